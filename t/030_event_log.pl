# The event log: a change is stored once whatever the number of webhooks;
# one change fans out to webhooks with different fates; deliveries follow
# commit order even when ids were taken in the opposite order; the log's
# tables are emptied by rotation while a paused webhook keeps its events;
# and crashes of the worker around rotations lose nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};
my $node = WebhookTest::start_node('event_log', "webhook.log_rotation = '1s'\n");

my $LOG = "(SELECT * FROM webhook.log_0 UNION ALL SELECT * FROM webhook.log_1"
  . " UNION ALL SELECT * FROM webhook.log_2)";

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE fan (id int PRIMARY KEY, note text);
	CREATE TABLE beacon (id serial PRIMARY KEY);
	SELECT webhook.register('fan-ok', '$url/ok/fan', 'fan');
	SELECT webhook.register('fan-retry', '$url/fail/1/fan', 'fan');
	SELECT webhook.register('fan-failed', '$url/status/500/fan', 'fan', max_attempts => 1);
	SELECT webhook.register('beacon', '$url/ok/beacon', 'beacon');
});

# bodies the receiver got on a path, decoded, in arrival order
sub bodies
{
	my ($path) = @_;
	return map { decode_json($_->{body}) }
	  grep { $_->{path} eq $path } WebhookTest::received($receiver);
}

# ---- a change to a table three webhooks watch is stored once
my $stored = $node->safe_psql('postgres', qq{
	BEGIN;
	INSERT INTO fan VALUES (1, 'one change');
	SELECT count(*), sum(cardinality(changes)), max(cardinality(hooks))
	  FROM $LOG l WHERE l.txid = pg_current_xact_id();
	COMMIT;
});
is($stored, '1|1|3', 'one log row holds the change, for all three webhooks');

# a bulk statement shares rows: 1,000 changes, three webhooks, four chunks
$stored = $node->safe_psql('postgres', qq{
	BEGIN;
	INSERT INTO fan SELECT g, 'bulk' FROM generate_series(1000, 1999) g;
	SELECT count(*), sum(cardinality(changes)), min(cardinality(hooks))
	  FROM $LOG l WHERE l.txid = pg_current_xact_id();
	COMMIT;
});
is($stored, '4|1000|3', '1,000 changes of one statement take four log rows');
$node->safe_psql('postgres', 'DELETE FROM fan WHERE id >= 1000');

# ---- one change, three fates
ok( $node->poll_query_until('postgres', q{
		SELECT string_agg(webhook || ':' || status || ':' || attempts, ' ' ORDER BY webhook)
		  FROM webhook.deliveries WHERE webhook LIKE 'fan-%' AND event_id = (
		       SELECT min(event_id) FROM webhook.deliveries WHERE webhook = 'fan-ok')},
		'fan-failed:failed:1 fan-ok:delivered:1 fan-retry:delivered:2'),
	'the change is delivered to one, retried then delivered to another, failed for the third');
my @ids = map { $_->{data}{event_id} } grep { $_->{data}{new}{id} == 1 } bodies('/ok/fan'),
  bodies('/fail/1/fan'), bodies('/status/500/fan');
is(scalar(@ids), 4, 'four requests for the change (one of them a retry)');
is(scalar(keys %{ { map { $_ => 1 } @ids } }), 1, 'all with the same event id');

# ---- commit order, not id order
$node->safe_psql('postgres', qq{
	CREATE TABLE ordered (id serial PRIMARY KEY, marker text);
	SELECT webhook.register('ordered', '$url/ok/ordered', 'ordered', fifo => true);
	SELECT webhook.pause('ordered');
});
my $early = $node->background_psql('postgres');
$early->query_safe('BEGIN');
$early->query_safe("INSERT INTO ordered (marker) VALUES ('first-ids-last-commit')");
$node->safe_psql('postgres', "INSERT INTO ordered (marker) VALUES ('last-ids-first-commit')");

# the worker sees the second commit (a beacon wakes it) before the first
$node->safe_psql('postgres', 'INSERT INTO beacon DEFAULT VALUES');
ok( $node->poll_query_until('postgres', q{
		SELECT status = 'delivered' FROM webhook.deliveries
		 WHERE webhook = 'beacon' ORDER BY event_id DESC LIMIT 1}),
	'the worker has run (and cut a batch) after the change that committed first');
$early->query_safe('COMMIT');
$early->quit;
$node->safe_psql('postgres', "SELECT webhook.resume('ordered')");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM webhook.deliveries WHERE webhook = 'ordered'"),
	'both are delivered');
my @order = map { [ $_->{data}{new}{marker}, $_->{data}{event_id} ] } bodies('/ok/ordered');
is(join(' ', map { $_->[0] } @order), 'last-ids-first-commit first-ids-last-commit',
	'in commit order');
cmp_ok($order[1][1], '<', $order[0][1], 'although the one sent last has the lower event id');

# ---- rotation: a paused webhook keeps its events, the log's space comes back
# (a log table is emptied once it is older than webhook.retention, which
# keeps the delivered history the views show: one second here)
$node->append_conf('postgresql.conf', "webhook.retention = '1s'\n");
$node->reload;
$node->safe_psql('postgres', qq{
	CREATE TABLE held (id int PRIMARY KEY, pad text);
	CREATE TABLE live (id int PRIMARY KEY, pad text);
	SELECT webhook.register('held', '$url/ok/held', 'held');
	SELECT webhook.pause('held');
	SELECT webhook.register('live', '$url/ok/live', 'live', batch_size => 100);
	INSERT INTO held SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text)
	  FROM generate_series(1, 5000) g;
	INSERT INTO live SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text)
	  FROM generate_series(1, 5000) g;
});
my $size = "SELECT (SELECT sum(pg_relation_size(c.oid)) FROM pg_class c"
  . " WHERE c.oid IN ('webhook.log_0'::regclass, 'webhook.log_1'::regclass, 'webhook.log_2'::regclass)"
  . "    OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname IN ('log_0', 'log_1', 'log_2')))";
my $peak = $node->safe_psql('postgres', $size);
cmp_ok($peak, '>', 250_000, "the log holds the 10,000 changes ($peak bytes, heap and TOAST)");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 5000 FROM webhook.deliveries WHERE webhook = 'live' AND status = 'delivered'"),
	'the live webhook delivers its 5,000 events');
ok($node->poll_query_until('postgres', "$size = 0"),
	'rotation empties every log table (TRUNCATE, no VACUUM)');
is( $node->safe_psql('postgres', "SELECT pending FROM webhook.webhooks WHERE name = 'held'"),
	'5000', 'the paused webhook still has its 5,000 events');
is( $node->safe_psql('postgres', q{
		SELECT lag > interval '0' AND lag < interval '1 hour' FROM webhook.webhooks WHERE name = 'held'}),
	't', 'its lag is the age of its oldest waiting event');
$node->safe_psql('postgres', "SELECT webhook.resume('held')");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 5000 FROM webhook.deliveries WHERE webhook = 'held' AND status = 'delivered'"),
	'and delivers them once resumed');
is(scalar(my @held = bodies('/ok/held')) >= 5000 ? 1 : 0, 1, 'the receiver got them');
is($node->safe_psql('postgres', "SELECT lag IS NULL FROM webhook.webhooks WHERE name = 'held'"),
	't', 'and it has no lag left');

# ---- the worker killed again and again while writers commit and the log
# rotates (every 100 ms here): nothing committed is lost, nothing rolled back
# is sent
$node->append_conf('postgresql.conf', "webhook.log_rotation = '100ms'\n");
$node->reload;
$node->safe_psql('postgres', qq{
	CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
	SELECT webhook.register('ledger', '$url/ok/ledger', 'ledger');
});
my $ledger = PostgreSQL::Test::Utils::tempdir() . '/committed';
my $writer = fork();
die "fork: $!" unless defined $writer;
if ($writer == 0)
{
	eval {
		open my $fh, '>>', $ledger or die;
		$fh->autoflush(1);
		for my $i (1 .. 300)
		{
			my ($ret) = eval {
				$node->psql('postgres', "INSERT INTO ledger (marker) VALUES ('m$i')");
			};
			print $fh "m$i\n" if defined $ret && $ret == 0;
			eval {
				$node->psql('postgres',
					"BEGIN; INSERT INTO ledger (marker) VALUES ('rb$i'); ROLLBACK");
			} if $i % 10 == 0;
		}
	};
	POSIX::_exit(0);
}
my $kills = 0;
for (1 .. 6)
{
	select(undef, undef, undef, 0.4);
	my $pid = eval { WebhookTest::worker_pid($node) };
	next unless $pid;
	kill 'KILL', $pid;
	$kills++;
}
waitpid($writer, 0);
cmp_ok($kills, '>=', 3, "the worker was killed $kills times");
my @committed = split /\n/, slurp_file($ledger);
my @rolled_back = map { "rb$_" } grep { $_ % 10 == 0 } 1 .. 300;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE webhook = 'ledger' AND status <> 'delivered'"),
	'after the kills, every delivery ends delivered');
my $report = WebhookTest::ledger_check($receiver, '/ok/ledger', \@committed, \@rolled_back);
note sprintf("worker killed %d times under rotation: %d committed, %d delivered, %d duplicates, %d rolled back sent",
	$kills, $report->{committed}, $report->{delivered}, $report->{duplicates}, $report->{leaked});

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
