# Per-row order: four writers interleave updates of 50 rows while the
# receiver answers each request after a random 0 to 5 ms; the webhook uses
# its eight connections, yet the events of one row arrive one at a time, in
# commit order.  A retry holds back its row's later events, and only those.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};
my $node = WebhookTest::start_node('row_order');

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE rows (id int PRIMARY KEY, v int NOT NULL);
	SELECT webhook.register('rows', '$url/jitter/5/rows', 'rows');
	INSERT INTO rows SELECT g, 0 FROM generate_series(1, 50) g;
});

# each transaction adds one to a random row's v: per row, v counts its commits
my $script = PostgreSQL::Test::Utils::tempdir() . '/bump.sql';
open my $fh, '>', $script or die;
print $fh "\\set id random(1, 50)\nUPDATE rows SET v = v + 1 WHERE id = :id;\n";
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '4', '-j', '4', '-t', '200', '-f', $script, 'postgres' ],
	'four writers commit 800 updates');
$node->safe_psql('postgres', 'DELETE FROM rows WHERE id <= 10');

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 860 AND bool_and(status = 'delivered') FROM webhook.deliveries WHERE webhook = 'rows'"),
	'all 860 events are delivered');

# arrival order, per row
my %seq;
my @reqs = grep { $_->{path} eq '/jitter/5/rows' } WebhookTest::received($receiver);
for my $req (@reqs)
{
	my $ev = decode_json($req->{body});
	my $row = $ev->{data}{new} // $ev->{data}{old};
	push @{ $seq{ $row->{id} } }, $ev->{data}{operation} eq 'DELETE' ? 'D' : $ev->{data}{new}{v};
}
my @out_of_order;
for my $id (sort { $a <=> $b } keys %seq)
{
	# the insert (v = 0), then v = 1, 2, ..., then for rows 1 to 10 the delete
	my @s = @{ $seq{$id} };
	my @want = (0 .. $#s - ($id <= 10 ? 1 : 0));
	push @want, 'D' if $id <= 10;
	push @out_of_order, "$id: got @s" unless "@s" eq "@want";
}
is(scalar(@out_of_order), 0, 'every row\'s events arrived one after another, in commit order')
  or diag(join("\n", @out_of_order[0 .. ($#out_of_order < 20 ? $#out_of_order : 19)]));

# different rows went out side by side: requests were in flight together
my $most = 0;
for (@reqs) { $most = $_->{in_flight} if $_->{in_flight} > $most }
cmp_ok($most, '>', 1, "requests of different rows were in flight together (up to $most at once)");

# a TRUNCATE waits for every earlier event of its table, and holds back
# every later one
$node->safe_psql('postgres', qq{
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT webhook.register('tb', '$url/jitter/5/tb', 'tb');
	INSERT INTO tb SELECT g FROM generate_series(1, 40) g;
	TRUNCATE tb;
	INSERT INTO tb SELECT g FROM generate_series(41, 80) g;
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 81 AND bool_and(status = 'delivered') FROM webhook.deliveries WHERE webhook = 'tb'"),
	'the table\'s 81 events are delivered');
my @tbreq = grep { $_->{path} eq '/jitter/5/tb' } WebhookTest::received($receiver);
my @tb = map { my $e = decode_json($_->{body}); $e->{data}{operation} eq 'TRUNCATE' ? 'T' : $e->{data}{new}{id} }
  @tbreq;
my ($at) = grep { $tb[$_] eq 'T' } 0 .. $#tb;
is(join(',', sort { $a <=> $b } @tb[0 .. $at - 1]), join(',', 1 .. 40),
	'the TRUNCATE came after the 40 inserts before it');
is(join(',', sort { $a <=> $b } @tb[$at + 1 .. $#tb]), join(',', 41 .. 80),
	'and before the 40 after it');
is($tbreq[$at]{in_flight}, 1, 'it was sent alone: every earlier insert had been answered');
my $most_tb = 0;
for (grep { $_->{path} eq '/jitter/5/tb' } WebhookTest::received($receiver))
{
	$most_tb = $_->{in_flight} if $_->{in_flight} > $most_tb;
}
cmp_ok($most_tb, '>', 1, "the inserts still went out side by side (up to $most_tb at once)");

# a retry holds back its own row and no other
$node->safe_psql('postgres', qq{
	CREATE TABLE lanes (id int PRIMARY KEY, v int NOT NULL);
	SELECT webhook.register('lanes', '$url/fail/2/lanes', 'lanes');
	INSERT INTO lanes VALUES (1, 0);
	UPDATE lanes SET v = 1 WHERE id = 1;
	UPDATE lanes SET v = 2 WHERE id = 1;
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 3 AND bool_and(status = 'delivered') FROM webhook.deliveries WHERE webhook = 'lanes'"),
	'a row whose every event fails twice before it lands is delivered');
my @v = map { decode_json($_->{body})->{data}{new}{v} }
  grep { $_->{path} eq '/fail/2/lanes' } WebhookTest::received($receiver);
my @firsts;
my %seen;
for (@v) { push @firsts, $_ unless $seen{$_}++ }
is(join(',', @firsts), '0,1,2', 'its events were first tried in order, each after the previous landed');
my @landed = map { decode_json($_->{body})->{data}{new}{v} }
  grep { $_->{path} eq '/fail/2/lanes' } WebhookTest::received($receiver);
# each version is sent three times (two failures, one success), one version at a time
is(join(',', @landed), '0,0,0,1,1,1,2,2,2', 'and no version was sent before the previous one was delivered');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
