# The worker stays responsive while receivers hang: SIGTERM, DROP DATABASE
# (a PG15 ProcSignalBarrier), DROP EXTENSION and fast shutdown all finish
# in seconds, not after the 60-second HTTP timeout.  A receiver that refuses
# connections for a while gets everything once it is back.  A cluster that
# preloads the library but never installs the extension stays quiet: the
# launcher runs, no worker stays.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('responsive');

# a cluster without the extension: the launcher idles without errors, and
# the worker it tried in each database found nothing to serve and left
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE TABLE plain (id int); INSERT INTO plain VALUES (1);');
$node->safe_psql('postgres', "SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'webhook launcher'"),
	'the launcher runs without the extension');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
	'no worker stays where the extension is not installed');
$node->safe_psql('postgres', 'CREATE EXTENSION webhook');
$node->safe_psql('postgres', 'DROP EXTENSION webhook');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/ERROR|FATAL/, 'no errors while the extension is absent, created or dropped');

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT webhook.register('hang', '$receiver->{url}/hang/t', 't', timeout => '60 s');
	INSERT INTO t SELECT generate_series(1, 3);
});
sub wait_sending
{
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM webhook.deliveries WHERE status = 'sending'")
	  or die "nothing in flight";
}

# SIGTERM while requests hang
wait_sending();
my $pid = WebhookTest::worker_pid($node);
my $t0 = time;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
  or die "the worker did not exit";
my $took = time - $t0;
cmp_ok($took, '<', 5, 'SIGTERM: the worker exits at once while a request hangs');
note sprintf('SIGTERM to exit: %.3f s', $took);

# DROP DATABASE of another database needs every backend to absorb a barrier
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'webhook worker'")
  or die "the worker did not come back";
wait_sending();
$node->safe_psql('postgres', 'CREATE DATABASE other');
$t0 = time;
$node->safe_psql('postgres', 'DROP DATABASE other');
$took = time - $t0;
cmp_ok($took, '<', 10, 'DROP DATABASE finishes while a request hangs');
note sprintf('DROP DATABASE: %.3f s', $took);

# DROP EXTENSION while requests hang
wait_sending();
$t0 = time;
$node->safe_psql('postgres', 'DROP EXTENSION webhook CASCADE');
$took = time - $t0;
cmp_ok($took, '<', 10, 'DROP EXTENSION finishes while a request hangs');
note sprintf('DROP EXTENSION: %.3f s', $took);

# a receiver that refuses connections, then comes back
my $port = WebhookTest::free_port();
$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE ledger (id int PRIMARY KEY, marker text);
	-- enough attempts (100 ms apart) to outlast the outage
	SELECT webhook.register('later', 'http://127.0.0.1:$port/ok/later', 'ledger', max_attempts => 1000);
	INSERT INTO ledger SELECT g, 'c' || g FROM generate_series(1, 10) g;
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 10 FROM webhook.deliveries WHERE attempts >= 3 AND status = 'retrying'"),
	'refused connections are retried');
like($node->safe_psql('postgres', "SELECT last_error FROM webhook.deliveries LIMIT 1"),
	qr/connect/i, 'the error says the connection failed');
my $late = WebhookTest::start_receiver($port);
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 10 FROM webhook.deliveries WHERE status = 'delivered'"),
	'all delivered once the receiver is back');
my $report = WebhookTest::ledger_check($late, '/ok/later', [ map { "c$_" } 1 .. 10 ], []);
note sprintf("receiver outage: %d committed, %d delivered, %d duplicates",
	$report->{committed}, $report->{delivered}, $report->{duplicates});

# fast shutdown while requests hang
$node->safe_psql('postgres', qq{
	SELECT webhook.register('hang2', '$receiver->{url}/hang/t2', 'ledger', timeout => '60 s');
	INSERT INTO ledger VALUES (11, 'c11');
});
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM webhook.deliveries WHERE webhook = 'hang2' AND status = 'sending'")
  or die "nothing in flight";
$t0 = time;
$node->stop('fast');
$took = time - $t0;
cmp_ok($took, '<', 10, 'fast shutdown finishes while a request hangs');
note sprintf('fast shutdown: %.3f s', $took);

WebhookTest::stop_receiver($late);
WebhookTest::stop_receiver($receiver);
done_testing();
