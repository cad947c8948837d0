# Crashes lose no committed event and send none that rolled back: kill -9
# of the delivery worker while requests are in flight; kill -9 of an
# unrelated backend (the whole cluster restarts); an immediate shutdown
# while a writer commits.
#
# A ledger oracle: every transaction writes a unique marker; after the crash
# and a bounded wait, every committed marker must have reached the receiver
# at least once and no rolled-back marker ever.  Duplicates are allowed
# (at-least-once) and reported.
use strict;
use warnings;

use FindBin;
use POSIX ();
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('crash');

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
	SELECT webhook.register('ledger', '$receiver->{url}/slow/300/ledger', 'ledger');
});

# 40 committed markers, 8 rolled back (one of them in a savepoint)
my @committed = map { "c$_" } 1 .. 40;
my @rolled_back;
my $script = '';
for my $i (1 .. 40)
{
	$script .= "INSERT INTO ledger (marker) VALUES ('c$i');\n";
	if ($i % 5 == 0)
	{
		push @rolled_back, "r$i";
		$script .= "BEGIN; INSERT INTO ledger (marker) VALUES ('r$i'); ROLLBACK;\n";
	}
}
$node->safe_psql('postgres', $script);
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO ledger (marker) VALUES ('c41');
	SAVEPOINT s;
	INSERT INTO ledger (marker) VALUES ('r41');
	ROLLBACK TO SAVEPOINT s;
	COMMIT;
});
push @committed, 'c41';
push @rolled_back, 'r41';

# kill the worker while it has requests in flight
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM webhook.deliveries WHERE status = 'sending'")
  or die "the worker never started sending";
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'");
ok($pid =~ /^\d+$/, "found the worker ($pid)");
my $in_flight = $node->safe_psql('postgres',
	"SELECT count(*) FROM webhook.deliveries WHERE status = 'sending'");
kill 'KILL', $pid;
note "killed the worker with $in_flight requests in flight";

# the postmaster restarts the cluster; write more once it is back
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'webhook worker'")
  or die "the worker did not come back";
my $script2 = '';
for my $i (42 .. 60)
{
	$script2 .= "INSERT INTO ledger (marker) VALUES ('c$i');\n";
	push @committed, "c$i";
}
$node->safe_psql('postgres', $script2);

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status <> 'delivered'"),
	'every delivery ends delivered');

my $report = WebhookTest::ledger_check($receiver, '/slow/300/ledger', \@committed, \@rolled_back);
note sprintf("kill -9 of the worker: %d committed, %d delivered, %d duplicates, %d rolled back sent",
	$report->{committed}, $report->{delivered}, $report->{duplicates}, $report->{leaked});

# kill -9 of an unrelated backend: the postmaster restarts every process
my $idle = $node->background_psql('postgres');
my $victim = $idle->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres', q{
	INSERT INTO ledger (marker) SELECT 'k' || g FROM generate_series(1, 30) g;
});
push @committed, map { "k$_" } 1 .. 30;
kill 'KILL', $victim;
eval { $idle->quit };
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'webhook worker'")
  or die "the cluster did not come back";
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status <> 'delivered'"),
	'after a backend crash, every delivery ends delivered');
$report = WebhookTest::ledger_check($receiver, '/slow/300/ledger', \@committed, \@rolled_back);
note sprintf("kill -9 of a backend: %d committed, %d delivered, %d duplicates, %d rolled back sent",
	$report->{committed}, $report->{delivered}, $report->{duplicates}, $report->{leaked});

# immediate shutdown while a writer commits one marker at a time; a marker
# counts as committed once its INSERT returned
my $ledger = PostgreSQL::Test::Utils::tempdir() . '/committed';
my $writer = fork();
die "fork: $!" unless defined $writer;
if ($writer == 0)
{
	# psql can die on a broken pipe when the server goes away under it: the
	# child must still leave through _exit, never through die, or the
	# framework's END blocks would stop the node from the child
	eval {
		open my $fh, '>>', $ledger or die;
		$fh->autoflush(1);
		for my $i (1 .. 400)
		{
			my ($ret) = eval { $node->psql('postgres', "INSERT INTO ledger (marker) VALUES ('w$i')") };
			print $fh "w$i\n" if defined $ret && $ret == 0;
		}
	};
	POSIX::_exit(0);
}
$node->poll_query_until('postgres', "SELECT count(*) >= 40 FROM ledger WHERE marker LIKE 'w%'")
  or die "the writer did not start";
$node->stop('immediate');
$node->start;
waitpid($writer, 0);
my @written = split /\n/, slurp_file($ledger);
ok(scalar(@written) >= 40, scalar(@written) . ' markers committed around the immediate shutdown');
push @committed, @written;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status <> 'delivered'"),
	'after an immediate shutdown, every delivery ends delivered');
$report = WebhookTest::ledger_check($receiver, '/slow/300/ledger', \@committed, \@rolled_back);
note sprintf("immediate shutdown under writes: %d committed, %d delivered, %d duplicates, %d rolled back sent",
	$report->{committed}, $report->{delivered}, $report->{duplicates}, $report->{leaked});

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
