# Failover with a real HA manager: pg_auto_failover (a monitor and two
# nodes on 127.0.0.1), twice: a manual failover (pg_autoctl perform
# failover), then a crash of the new primary (kill -9 of its keeper and
# postgres) and the automatic failover back.  With the receiver down across
# each failover, events committed on the old primary are delivered by the
# new one: none lost, none for rolled-back work, duplicates only for what
# the old primary had sent but the standby had not yet heard was delivered.
# A second webhook, whose receiver is up but slow, has requests in flight
# at the crash: exactly those may come twice.  The old primary, rejoining
# as a standby, delivers nothing.  Prints the ledgers.
#
# Skipped, saying so, when pg_autoctl is not installed (Debian's
# postgresql-15-auto-failover; tools/deps.sh installs it).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Cwd ();
use File::Spec;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $bindir = `pg_config --bindir`;
chomp $bindir;
my ($autoctl) = grep { -x $_ }
  ("$bindir/pg_autoctl", map { "$_/pg_autoctl" } File::Spec->path);
plan skip_all => 'pg_autoctl (postgresql-15-auto-failover) is not installed' unless $autoctl;
my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => "pgautofailover.so is not installed in $libdir"
  unless -e "$libdir/pgautofailover.so";

my $dir = Cwd::abs_path(PostgreSQL::Test::Utils::tempdir());
my $pgctl = "$bindir/pg_ctl";
# pg_autoctl keeps its config, state and pid files under these
$ENV{HOME} = $dir;
$ENV{XDG_CONFIG_HOME} = "$dir/config";
$ENV{XDG_DATA_HOME} = "$dir/share";
$ENV{XDG_RUNTIME_DIR} = "$dir/run";
$ENV{PG_REGRESS_SOCK_DIR} = $dir;
$ENV{PGHOST} = $dir;
$ENV{PATH} = "$bindir:$ENV{PATH}";
delete $ENV{$_} for qw(PGDATA PGPORT PGDATABASE PGUSER);
mkdir "$dir/$_", 0700 for qw(config share run);

my $mport = PostgreSQL::Test::Cluster::get_free_port();
my %port = (node1 => PostgreSQL::Test::Cluster::get_free_port());
$port{node2} = PostgreSQL::Test::Cluster::get_free_port();
my $monitor_url = "postgres://autoctl_node\@127.0.0.1:$mport/pg_auto_failover?sslmode=disable";
my %keeper;						# pgdata => pid (and process group) of pg_autoctl run

sub run_or_die
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err)
	  or die "@cmd failed:\n$out$err";
	return $out;
}

# psql on 127.0.0.1, the statements on stdin (each its own transaction
# unless it says otherwise); returns stdout, or undef if it failed
sub sql
{
	my ($port, $db, $query) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'psql', '-X', '-Atq', '-h', '127.0.0.1', '-p', $port,
			'-U', 'postgres', '-d', $db, '-v', 'ON_ERROR_STOP=1', '-f', '-' ],
		'<', \$query, '>', \$out, '2>', \$err);
	chomp $out;
	return $ok ? $out : undef;
}

sub poll
{
	my ($what, $secs, $cond) = @_;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		return 1 if $cond->();
		select(undef, undef, undef, 0.1);
	}
	diag("timed out after $secs s: $what");
	return 0;
}

# "node1:primary,node2:secondary" as the monitor sees it (reported = goal)
sub formation
{
	my $rows = sql($mport, 'pg_auto_failover', q{
		SELECT string_agg(nodename || ':' || reportedstate
		                  || CASE WHEN reportedstate = goalstate THEN '' ELSE '>' || goalstate END,
		                  ',' ORDER BY nodename)
		  FROM pgautofailover.node});
	return $rows // '';
}

sub wait_formation
{
	my ($want, $secs) = @_;
	my $t0 = time;
	my $ok = poll("formation $want (last: " . formation() . ')', $secs, sub { formation() eq $want });
	note sprintf('formation %s after %.1f s', $want, time - $t0);
	return $ok;
}

sub start_keeper
{
	my ($pgdata) = @_;
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		POSIX::setsid();
		open STDOUT, '>>', "$pgdata.keeper.log" or die;
		open STDERR, '>&', \*STDOUT or die;
		exec $autoctl, 'run', '--pgdata', $pgdata or die "exec: $!";
	}
	$keeper{$pgdata} = $pid;
}

sub stop_keeper
{
	my ($pgdata) = @_;
	my $pid = delete $keeper{$pgdata} or return;
	IPC::Run::run([ $autoctl, 'stop', '--pgdata', $pgdata ], '>', \my $o, '2>&1');
	my $gone = poll("pg_autoctl run of $pgdata to exit", 30,
		sub { waitpid($pid, POSIX::WNOHANG()) == $pid });
	kill 'KILL', -$pid unless $gone;
}

END
{
	stop_keeper($_) for grep { !/monitor/ } keys %keeper;
	stop_keeper($_) for keys %keeper;
}

# the monitor, with fast health checks (test settings: unsafe on real networks)
my $monitor = "$dir/monitor";
run_or_die($autoctl, 'create', 'monitor', '--pgdata', $monitor, '--pgport', $mport,
	'--hostname', '127.0.0.1', '--listen', '127.0.0.1', '--auth', 'trust', '--no-ssl',
	'--pgctl', $pgctl);
PostgreSQL::Test::Utils::append_to_file("$monitor/postgresql.conf", qq{
shared_buffers = 32MB
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 3000
pgautofailover.primary_demote_timeout = 5000
pgautofailover.startup_grace_period = 2000
});
start_keeper($monitor);
poll('the monitor to accept connections', 60,
	sub { defined sql($mport, 'pg_auto_failover', 'SELECT 1') })
  or BAIL_OUT('the monitor did not start');

# the first node: our own initdb, so that our settings win over the ones
# pg_autoctl tunes (it would give shared_buffers several GB)
my $port = WebhookTest::free_port();
my $url = "http://127.0.0.1:$port";
my %pgdata = (node1 => "$dir/node1", node2 => "$dir/node2");
run_or_die('initdb', '-D', $pgdata{node1}, '-U', 'postgres', '--auth=trust', '--no-sync');
PostgreSQL::Test::Utils::append_to_file("$pgdata{node1}/postgresql.conf", qq{
shared_buffers = 32MB
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
webhook.retry_schedule = '100ms'
fsync = off
});
for my $node (qw(node1 node2))
{
	run_or_die($autoctl, 'create', 'postgres', '--pgdata', $pgdata{$node},
		'--pgport', $port{$node}, '--name', $node, '--hostname', '127.0.0.1',
		'--listen', '127.0.0.1', '--auth', 'trust', '--no-ssl', '--pgctl', $pgctl,
		'--username', 'postgres', '--dbname', 'postgres', '--monitor', $monitor_url);
	start_keeper($pgdata{$node});
	if ($node eq 'node1')
	{
		wait_formation('node1:single', 60) or BAIL_OUT('node1 never became single');
	}
}
ok(wait_formation('node1:primary,node2:secondary', 90), 'a primary and a secondary');

# the ledger on the primary; a receiver that is up for batch A
my $receiver = WebhookTest::start_receiver($port);
defined sql($port{node1}, 'postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
	SELECT webhook.register('hook', '$url/ok/ledger', 'ledger', max_attempts => 100000);
}) or die 'setup on node1 failed';

my (@committed, @rolled_back, %batch);
sub write_batch
{
	my ($node, $name, $n) = @_;
	my $q = '';
	for my $i (1 .. $n)
	{
		$q .= "INSERT INTO ledger (marker) VALUES ('$name$i');\n";
		push @committed, "$name$i";
		push @{ $batch{$name} }, "$name$i";
		if ($i % 4 == 0)
		{
			$q .= "BEGIN; INSERT INTO ledger (marker) VALUES ('r$name$i'); ROLLBACK;\n";
			push @rolled_back, "r$name$i";
		}
	}
	defined sql($port{$node}, 'postgres', $q) or die "batch $name on $node failed";
}

write_batch('node1', 'a', 20);
ok(WebhookTest::wait_markers($receiver, '/ok/ledger', 20, 30), 'node1 delivers batch A');

# the receiver goes down; batch B is committed on node1 and cannot be sent
WebhookTest::stop_receiver($receiver);
write_batch('node1', 'b', 20);
ok( poll('batch B retrying on node1', 30, sub {
			(sql($port{node1}, 'postgres',
					"SELECT count(*) FROM webhook.deliveries WHERE attempts > 0 AND status <> 'delivered'")
				  // 0) == 20
		}),
	'node1 tries batch B and fails: the receiver is down');
my $a_known = sql($port{node2}, 'postgres',
	"SELECT count(*) FROM webhook.deliveries WHERE status = 'delivered'") // 0;
is(sql($port{node2}, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
	'0', 'the secondary runs no worker');

# failover, receiver still down
my $t0 = time;
run_or_die($autoctl, 'perform', 'failover', '--pgdata', $monitor, '--wait', '120');
ok(wait_formation('node1:secondary,node2:primary', 120),
	'after the failover node2 is primary and node1 rejoined as secondary');
note sprintf('failover: %.1f s', time - $t0);

# the receiver is back; batch C is written on the new primary
$receiver = WebhookTest::start_receiver($port, $receiver->{log});
write_batch('node2', 'c', 20);
ok(WebhookTest::wait_markers($receiver, '/ok/ledger', 20 + 20 + 20, 60),
	'node2 delivers batch B, committed on node1, and its own batch C');

# the old primary, now a standby, delivers nothing
sub quiet_standby
{
	my ($node) = @_;
	is(sql($port{$node}, 'postgres', 'SELECT pg_is_in_recovery()'), 't', "$node is a standby");
	is( sql($port{$node}, 'postgres', q{
			SELECT string_agg(backend_type || ':' || coalesce(query, ''), ',')
			  FROM pg_stat_activity WHERE backend_type LIKE 'webhook%'}),
		'webhook launcher:waiting for recovery to end',
		"on $node the launcher waits for recovery to end; no worker runs");
	my $log = join '', map { slurp_file($_) } sort glob("$pgdata{$node}/log/*.log");
	my ($since_rejoin) = $log =~ /.*webhook launcher waits for recovery to end(.*)\z/s;
	ok(defined $since_rejoin, "${node}'s launcher waited for recovery after it rejoined");
	unlike($since_rejoin // '', qr/webhook worker started|ERROR/,
		"$node started no worker, and logged no ERROR, since it rejoined");
}
quiet_standby('node1');

# How many events the standby knows were delivered: the rest of what the
# primary delivered may have been in flight (delivered, outcome not yet
# replicated) and may come again.
sub known_delivered
{
	my ($node) = @_;
	return sql($port{$node}, 'postgres',
		"SELECT count(*) FROM webhook.deliveries WHERE webhook = 'hook' AND status = 'delivered'") // 0;
}

# 2. The new primary crashes (kill -9 of node2's keeper and postgres):
# pg_auto_failover promotes node1, and node2 rejoins as a standby.  The
# ledger's receiver is down again; a second webhook posts batch E to a
# receiver that is up but takes 2 s to answer, so that requests are in
# flight at the crash: those, and only those, may come twice.
write_batch('node2', 'd', 20);
ok(WebhookTest::wait_markers($receiver, '/ok/ledger', 80, 30), 'node2 delivers batch D');
my $slow = WebhookTest::start_receiver();
defined sql($port{node2}, 'postgres', qq{
	SELECT webhook.register('slow', '$slow->{url}/slow/2000/slow', 'ledger', max_attempts => 100000);
}) or die 'registering the slow webhook failed';
WebhookTest::stop_receiver($receiver);
my $e_from = @committed;
write_batch('node2', 'e', 20);
ok( poll('batch E retrying on node2', 30, sub {
			(sql($port{node2}, 'postgres', q{
				SELECT count(*) FROM webhook.deliveries
				 WHERE webhook = 'hook' AND attempts > 0 AND status <> 'delivered'})
				  // 0) == 20
		}),
	'node2 tries batch E and fails: the receiver is down');
ok(WebhookTest::wait_markers($slow, '/slow/2000/slow', 1, 30),
	'and has requests of the slow webhook in flight');
my $known2 = known_delivered('node1');
$t0 = time;
my $crashed = delete $keeper{ $pgdata{node2} };
my $in_flight = grep { $_->{path} eq '/slow/2000/slow' } WebhookTest::received($slow);
kill 'KILL', -$crashed;
waitpid($crashed, 0);
ok( poll('node1 promoted', 120, sub { formation() =~ /^node1:(?:wait_)?primary,/ }),
	'after node2 crashed, node1 is primary again');
note sprintf('automatic failover: %.1f s (formation %s)', time - $t0, formation());
$receiver = WebhookTest::start_receiver($port, $receiver->{log});
write_batch('node1', 'f', 20);
ok(WebhookTest::wait_markers($receiver, '/ok/ledger', 120, 60),
	'node1 delivers batch E, committed on the crashed node2, and its own batch F');
ok(WebhookTest::wait_markers($slow, '/slow/2000/slow', 40, 60),
	'and so does the slow webhook');
$t0 = time;
start_keeper($pgdata{node2});
ok(wait_formation('node1:primary,node2:secondary', 120), 'node2 rejoins as secondary');
note sprintf('rejoin: %.1f s', time - $t0);
quiet_standby('node2');

# the ledger over both failovers
my $report = WebhookTest::ledger_check($receiver, '/ok/ledger', \@committed, \@rolled_back);
my $seen = WebhookTest::marker_counts($receiver, '/ok/ledger');
my %dups;
for my $name (keys %batch)
{
	$dups{$name} = 0;
	$dups{$name} += $seen->{$_} - 1 for grep { $seen->{$_} } @{ $batch{$name} };
}
is($dups{b} + $dups{c} + $dups{e} + $dups{f}, 0,
	'no duplicate of what no server had delivered before a failover');
cmp_ok($dups{a}, '<=', 20 - $a_known,
	'duplicates of batch A only where the standby had not heard it was delivered');
cmp_ok($dups{d}, '<=', 80 - $known2,
	'duplicates of batch D only where the standby had not heard it was delivered');
note sprintf('failover ledger: %d committed, %d delivered, %d duplicates (in flight: %d at the manual failover, %d at the crash), %d rolled back sent',
	$report->{committed}, $report->{delivered}, $report->{duplicates}, 20 - $a_known,
	80 - $known2, $report->{leaked});

# the slow webhook: batches E and F; only what was in flight at the crash twice
my @ef = @committed[ $e_from .. $#committed ];
my $slow_report = WebhookTest::ledger_check($slow, '/slow/2000/slow', \@ef,
	[ grep { /^r[ef]/ } @rolled_back ]);
cmp_ok($slow_report->{duplicates}, '<=', $in_flight,
	'the slow webhook duplicates only requests in flight at the crash');
note sprintf('slow webhook across the crash: %d committed, %d delivered, %d duplicates (%d requests in flight), %d rolled back sent',
	$slow_report->{committed}, $slow_report->{delivered}, $slow_report->{duplicates},
	$in_flight, $slow_report->{leaked});

WebhookTest::stop_receiver($receiver);
WebhookTest::stop_receiver($slow);
done_testing();
