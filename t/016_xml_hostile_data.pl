# Whatever the row holds, an XML webhook's receiver gets a well-formed XML
# document, checked by a real parser (xml.etree in test/receiver.py):
# NaN and infinities (also of timestamps, which map_sql_value_to_xml_value
# refuses), bytea, arrays, composites, domains, enums, json, generated and
# dropped columns, control characters, odd column names, in a LATIN1
# database, one event at a time and in batches; and bytes that are not
# UTF-8, in values and in column names, in a SQL_ASCII one.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Encode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();

# the parsed bodies of the requests on $path, checking each is well-formed
sub parsed
{
	my ($path) = @_;
	my @docs;
	for my $req (grep { $_->{path} eq $path } WebhookTest::received($receiver))
	{
		ok($req->{utf8}, "$path body $req->{headers}{'webhook-id'} is valid UTF-8");
		ok($req->{xml} && $req->{xml}{doc}, "and well-formed XML")
		  or diag(($req->{xml}{error} // 'not parsed') . ": $req->{body}");
		push @docs, $req->{xml}{doc} if $req->{xml} && $req->{xml}{doc};
	}
	return @docs;
}

my $node = PostgreSQL::Test::Cluster->new('latin1');
$node->init(extra => [ '--encoding=LATIN1', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
webhook.retry_schedule = '100ms'
});
$node->start;

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
		ts        timestamptz,
		day       date,
		j         json,
		"two words" text,
		"xmlish"  text,
		"1st"     text,
		"a:b<c>"  text,
		"ça"      text,
		"ctl\x01" text,
		doubled   int GENERATED ALWAYS AS (id * 2) STORED
	);
	ALTER TABLE odd DROP COLUMN gone;
	SELECT webhook.register('odd', '$receiver->{url}/ok/odd', 'odd', format => 'xml');
	SELECT webhook.register('odd-batch', '$receiver->{url}/ok/odd-batch', 'odd', format => 'xml',
	                        batch_size => 10);
	SELECT webhook.pause('odd-batch');
	INSERT INTO odd (id, n, f, b, arr, p, m, d, txt, ts, day, j, "two words", "xmlish", "1st", "a:b<c>", "ça", "ctl\x01") VALUES
		(1, 'NaN', 'Infinity', '\\x00ff', '{1,NULL,3}', '(1.5,-2)', 'happy', 7,
		 'café ' || chr(1) || chr(8) || chr(11) || chr(9) || chr(13) || '"quoted" <&> ]]> \\ backslash',
		 'infinity', '-infinity', '{"k": [1, "x<y", null], "": true}', 'w', 'x', 'y', 'z', 'ç', 'c'),
		(2, 'Infinity', '-Infinity', '', '{}', NULL, 'sad', 1, 'ÿ', '2026-11-27 16:23:15.5+00',
		 '2026-11-27', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	UPDATE odd SET "two words" = 'changed' WHERE id = 1;
	SELECT webhook.resume('odd-batch');
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 6 AND bool_and(status = 'delivered') FROM webhook.deliveries"),
	'every event is delivered, one at a time and in a batch');

my %rows;
for my $doc (parsed('/ok/odd'))
{
	$rows{ $doc->{new}{id} } = $doc->{new} if $doc->{'@type'} eq 'row.inserted';
}
my $r1 = $rows{1};
is($r1->{n}, 'NaN', 'numeric NaN');
is($r1->{f}, 'Infinity', 'float infinity');
is($r1->{b}, 'AP8=', 'bytea in base64, as map_sql_value_to_xml_value maps it');
is_deeply($r1->{arr}, [ '1', undef, '3' ], 'arrays are <element>s, a NULL one nil');
is_deeply($r1->{p}, { x => '1.5', y => '-2' }, 'composites nest');
is($r1->{m}, 'happy', 'enums');
is($r1->{d}, '7', 'domains');
is($r1->{ts}, 'infinity', 'an infinite timestamp');
is($r1->{day}, '-infinity', 'an infinite date');
is_deeply($r1->{j}, { k => [ '1', 'x<y', undef ], _x0000_ => 'true' }, 'json nests; an empty key is _x0000_');
is($r1->{doubled}, '2', 'generated columns are sent');
ok(!exists $r1->{gone}, 'dropped columns are not');
is($r1->{txt}, "caf\x{e9} \x{fffd}\x{fffd}\x{fffd}\t\r\"quoted\" <&> ]]> \\ backslash",
	'text: XML specials escaped, forbidden control characters replaced, tab and CR kept');
is_deeply([ map { $r1->{$_} } 'two_x0020_words', '_x0078_mlish', '_x0031_st', 'a_x003A_b_x003C_c_x003E_', 'ctl_x0001_' ],
	[ 'w', 'x', 'y', 'z', 'c' ],
	'odd column names as map_sql_identifier_to_xml_name escapes them');
is($r1->{"\x{e7}a"}, "\x{e7}", 'a LATIN1 column name and value arrive as UTF-8');
is($rows{2}{txt}, "\x{ff}", 'LATIN1 ÿ arrives as UTF-8');
is($rows{2}{ts}, '2026-11-27T16:23:15.5+00:00', 'a timestamp in XSD form');
is($rows{2}{day}, '2026-11-27', 'a date in XSD form');
ok(!defined $rows{2}{p} && exists $rows{2}{p}, 'a NULL column is xsi:nil');

my @batches = parsed('/ok/odd-batch');
is(scalar(@batches), 1, 'the batch is one POST');
is(scalar(@{ $batches[0] }), 3, 'an <events> element of three <event>s');
$node->stop;

# SQL_ASCII stores any bytes; what is not UTF-8 arrives as U+FFFD in values
# and escaped in names
my $ascii = PostgreSQL::Test::Cluster->new('sql_ascii');
$ascii->init(extra => [ '--encoding=SQL_ASCII', '--locale=C' ]);
$ascii->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
});
$ascii->start;
$ascii->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE raw (id int PRIMARY KEY, t text, "n\xff\xfe" text, "é" text);
	SELECT webhook.register('raw', '$receiver->{url}/ok/raw', 'raw', format => 'xml');
	INSERT INTO raw VALUES (1, E'ok \\xff\\xfe end \\xef\\xbf\\xbf', 'v', 'w');
});
ok( $ascii->poll_query_until('postgres',
		"SELECT status = 'delivered' FROM webhook.deliveries WHERE webhook = 'raw'"),
	'a SQL_ASCII row with invalid UTF-8 is delivered');
my ($raw) = parsed('/ok/raw');
is($raw->{new}{t}, "ok \x{fffd}\x{fffd} end \x{fffd}", 'values: U+FFFD for each byte that is not UTF-8, and for U+FFFF');
is($raw->{new}{n_x00FF__x00FE_}, 'v', 'names: bytes above 0x7F escaped');
is($raw->{new}{_x00C3__x00A9_}, 'w', 'also when they are UTF-8 (a SQL_ASCII database does not know)');
$ascii->stop;

WebhookTest::stop_receiver($receiver);
done_testing();
