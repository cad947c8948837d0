# A hot standby (pg_basebackup -R, streaming) delivers nothing and logs
# nothing per wake-up: its launcher waits for recovery to end and no worker
# runs.  Promoted (pg_ctl promote) while the old primary is gone, it
# delivers every committed event the old primary had not delivered, and
# none that rolled back.  No ERROR in the standby's log over its life (the
# FATALs are the walreceiver's, when the primary goes, and every
# background worker's at shutdown).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

# the receiver is down while the primary lives: nothing gets delivered
my $port = WebhookTest::free_port();
my $url = "http://127.0.0.1:$port";

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
webhook.retry_schedule = '100ms'
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE app');
for my $db (qw(postgres app))
{
	$primary->safe_psql($db, qq{
		CREATE EXTENSION webhook;
		CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
		SELECT webhook.register('hook', '$url/ok/$db', 'ledger', max_attempts => 100000);
	});
}
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my (%committed, @rolled_back);
for my $db (qw(postgres app))
{
	my $sql = '';
	for my $i (1 .. 20)
	{
		$sql .= "INSERT INTO ledger (marker) VALUES ('$db-c$i');\n";
		push @{ $committed{$db} }, "$db-c$i";
		if ($i % 5 == 0)
		{
			$sql .= "BEGIN; INSERT INTO ledger (marker) VALUES ('$db-r$i'); ROLLBACK;\n";
			push @rolled_back, "$db-r$i";
		}
	}
	$primary->safe_psql($db, $sql);
}
ok( $primary->poll_query_until('app',
		"SELECT count(*) = 20 FROM webhook.deliveries WHERE attempts > 0 AND status <> 'delivered'"),
	'the primary tries and fails: the receiver is down');
$primary->wait_for_catchup($standby);

is($standby->safe_psql('app', 'SELECT count(*) FROM webhook.deliveries'), '20',
	'the standby has the undelivered events (the queue is WAL-logged)');
is( $standby->safe_psql('postgres', q{
		SELECT string_agg(backend_type || ':' || coalesce(query, ''), ',')
		  FROM pg_stat_activity WHERE backend_type LIKE 'webhook%'}),
	'webhook launcher:waiting for recovery to end',
	'on the standby the launcher waits for recovery to end, and no worker runs');

# the primary goes away; the receiver comes up; the standby still sends nothing
$primary->stop('immediate');
my $receiver = WebhookTest::start_receiver($port);
my $t0 = time;
$standby->safe_psql('postgres', 'SELECT pg_sleep(0)') for 1 .. 3;
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
	'0', 'no worker on the standby after the primary went');
my $before = slurp_file($standby->logfile);
my @webhook_lines = grep { /LOG:  webhook/ } split /\n/, $before;
is(scalar(@webhook_lines), 1, 'one log line about webhook on the standby: the launcher waits')
  or diag(join "\n", @webhook_lines);

$t0 = time;
$standby->promote;
my $promoted = time - $t0;
ok(WebhookTest::wait_markers($receiver, '/ok/app', 1, 10), 'after promotion, delivery starts');
my $first = time - $t0;
for my $db (qw(postgres app))
{
	ok(WebhookTest::wait_markers($receiver, "/ok/$db", 20, 30),
		"after promotion, $db delivers what the old primary had not");
}
my $took = time - $t0;
# reported, not asserted: a timing on this shared machine is no test
note sprintf('pg_ctl promote took %.3f s; first delivery %.3f s, the last %.3f s after it began'
	  . ' (%.3f s after the promotion completed)',
	$promoted, $first, $took, $first - $promoted);
for my $db (qw(postgres app))
{
	my $report = WebhookTest::ledger_check($receiver, "/ok/$db", $committed{$db},
		[ grep { /^$db-/ } @rolled_back ]);
	note sprintf('%s: %d committed, %d delivered, %d duplicates, %d rolled back sent',
		$db, $report->{committed}, $report->{delivered}, $report->{duplicates},
		$report->{leaked});
}

# the promoted server takes new work too
$standby->safe_psql('app', "INSERT INTO ledger (marker) VALUES ('app-new')");
ok(WebhookTest::wait_markers($receiver, '/ok/app', 21, 10), 'and delivers new events');

$standby->stop;
unlike(slurp_file($standby->logfile), qr/ERROR/, 'no ERROR in the standby log over its life');

WebhookTest::stop_receiver($receiver);
done_testing();
