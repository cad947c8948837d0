# Whatever the row holds, the receiver gets valid UTF-8 JSON: NaN and
# infinities, bytea, arrays, composites, domains, enums, generated and
# dropped columns, control characters, in a LATIN1 database; and bytes that
# are not UTF-8 in a SQL_ASCII one.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Encode;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = PostgreSQL::Test::Cluster->new('latin1');
$node->init(extra => [ '--encoding=LATIN1', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
webhook.retry_schedule = '100ms'
});
$node->start;
is($node->safe_psql('postgres', 'SHOW server_encoding'), 'LATIN1', 'a LATIN1 database');

$node->safe_psql('postgres', qq{
	SET client_encoding = 'UTF8';
	CREATE EXTENSION webhook;
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TYPE point2 AS (x float8, y float8);
	CREATE DOMAIN positive AS int CHECK (VALUE > 0);
	CREATE TABLE odd (
		id        int PRIMARY KEY,
		gone      text,
		n         numeric,
		f         float8,
		b         bytea,
		arr       int[],
		p         point2,
		m         mood,
		d         positive,
		txt       text,
		doubled   int GENERATED ALWAYS AS (id * 2) STORED
	);
	ALTER TABLE odd DROP COLUMN gone;
	SELECT webhook.register('odd', '$receiver->{url}/ok/odd', 'odd');
	INSERT INTO odd (id, n, f, b, arr, p, m, d, txt) VALUES
		(1, 'NaN', 'Infinity', '\\x00ff', '{1,NULL,3}', '(1.5,-2)', 'happy', 7,
		 'café ' || chr(1) || chr(9) || '"quoted" \\ backslash'),
		(2, 'Infinity', '-Infinity', '', '{}', NULL, 'sad', 1, 'ÿ');
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM webhook.deliveries"),
	'both rows are delivered');

my %rows;
for my $req (grep { $_->{path} eq '/ok/odd' } WebhookTest::received($receiver))
{
	ok($req->{utf8}, "body $req->{headers}{'webhook-id'} is valid UTF-8");
	my $ev = eval { decode_json(Encode::encode('UTF-8', $req->{body})) };
	ok($ev, 'and valid JSON') or diag($@);
	$rows{ $ev->{data}{new}{id} } = $ev->{data}{new} if $ev;
}
my $r1 = $rows{1};
is($r1->{n}, 'NaN', 'numeric NaN is a string');
is($r1->{f}, 'Infinity', 'float infinity is a string');
is($r1->{b}, '\\x00ff', 'bytea is its hex text');
is_deeply($r1->{arr}, [ 1, undef, 3 ], 'arrays are arrays');
is_deeply($r1->{p}, { x => 1.5, y => -2 }, 'composites are objects');
is($r1->{m}, 'happy', 'enums are strings');
is($r1->{d}, 7, 'domains are their base type');
is($r1->{doubled}, 2, 'generated columns are sent');
ok(!exists $r1->{gone}, 'dropped columns are not');
is($r1->{txt}, "caf\x{e9} \x{1}\t\"quoted\" \\ backslash", 'text with é, control characters and quotes survives');
is($rows{2}{txt}, "\x{ff}", 'LATIN1 ÿ arrives as UTF-8');
is($rows{2}{n}, 'Infinity', 'numeric infinity is a string');

$node->stop;

# SQL_ASCII stores any bytes; what is not UTF-8 arrives as U+FFFD
my $ascii = PostgreSQL::Test::Cluster->new('sql_ascii');
$ascii->init(extra => [ '--encoding=SQL_ASCII', '--locale=C' ]);
$ascii->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
});
$ascii->start;
$ascii->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE raw (id int PRIMARY KEY, t text);
	SELECT webhook.register('raw', '$receiver->{url}/ok/raw', 'raw');
	INSERT INTO raw VALUES (1, E'ok \\xff\\xfe end');
});
ok( $ascii->poll_query_until('postgres',
		"SELECT status = 'delivered' FROM webhook.deliveries WHERE webhook = 'raw'"),
	'a SQL_ASCII row with invalid UTF-8 is delivered');
my ($raw) = grep { $_->{path} eq '/ok/raw' } WebhookTest::received($receiver);
ok($raw->{utf8}, 'as valid UTF-8');
is(decode_json(Encode::encode('UTF-8', $raw->{body}))->{data}{new}{t}, "ok \x{fffd}\x{fffd} end",
	'with U+FFFD for each byte that was not UTF-8');
$ascii->stop;

WebhookTest::stop_receiver($receiver);
done_testing();
