# Replay under load and faults: 100,000 events replayed in one statement
# that blocks no writer, delivered in the worker's usual bounded windows; a
# kill -9 of the worker and an immediate shutdown while replayed events are
# in flight lose none of them, and resend only what was in flight.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('replay');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE big (id int PRIMARY KEY);
	CREATE TABLE ledger (id int PRIMARY KEY, marker text NOT NULL);
	SELECT webhook.register('big', '$receiver->{url}/ok/big', 'big');
	SELECT webhook.pause('big');
	INSERT INTO big SELECT generate_series(1, 100000);
});
# history: as if all 100,000 had been delivered and kept a row of their own
# in the queue (as a delivery after a retry does)
$node->safe_psql('postgres', q{
	INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at,
	                           new_row, lane, status, attempts, delivered_at, next_attempt_at)
	SELECT id, event_id, hook_id, op, schema_name, table_name, created_at, new_row, lane,
	       'd', 1, now(), now()
	  FROM webhook.queued WHERE hook_id = (SELECT id FROM webhook.hook WHERE name = 'big');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM webhook.queue}), 100000,
	'the history is in place');

# one statement, left open: a writer to the watched table does not wait
my $replayer = $node->background_psql('postgres');
$replayer->query_safe('BEGIN');
my $count = $replayer->query_safe(q{SELECT webhook.replay('big', now() - interval '1 hour')});
is($count, 100000, 'one statement replays 100,000 events');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '5s'; INSERT INTO big VALUES (100001); UPDATE big SET id = -1 WHERE id = 100001;});
is($ret, 0, 'a writer is not blocked by a replay in progress') or diag($err);
$replayer->query_safe('COMMIT');
$replayer->quit;

# delivered in bounded windows, not all claimed at once
$node->safe_psql('postgres', q{SELECT webhook.resume('big')});
$node->poll_query_until('postgres',
	q{SELECT count(*) >= 2000 FROM webhook.deliveries WHERE webhook = 'big' AND status = 'delivered'})
  or die 'the replay is not being delivered';
my $held = $node->safe_psql('postgres',
	q{SELECT count(*) FROM webhook.deliveries WHERE webhook = 'big' AND status = 'sending'});
cmp_ok($held, '<=', 256, "the worker holds at most webhook.max_in_flight of them ($held)");
$node->safe_psql('postgres', q{SELECT webhook.unregister('big')});

# crashes while replayed events are in flight
$node->safe_psql('postgres', qq{
	SELECT webhook.register('ledger', '$receiver->{url}/slow/100/ledger', 'ledger');
	INSERT INTO ledger SELECT g, 'm' || g FROM generate_series(1, 120) g;
});
my @committed = map { "m$_" } 1 .. 120;
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM webhook.deliveries WHERE webhook = 'ledger' AND status <> 'delivered'}),
	'first delivery done');
my $first = WebhookTest::ledger_check($receiver, '/slow/100/ledger', \@committed, []);
is($first->{duplicates}, 0, 'no duplicates before the replay');

sub replay_and_crash
{
	my ($how) = @_;
	is($node->safe_psql('postgres', q{SELECT webhook.replay('ledger', now() - interval '1 hour')}),
		120, "replay ($how)");
	$node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM webhook.deliveries WHERE webhook = 'ledger' AND status = 'sending'})
	  or die 'the replay is not being sent';
	my $in_flight = grep { $_->{path} eq '/slow/100/ledger' } WebhookTest::received($receiver);
	if ($how eq 'kill -9')
	{
		kill 'KILL', WebhookTest::worker_pid($node);
		# the postmaster restarts every process: poll until it answers again
		my $back = 0;
		for (1 .. 600)
		{
			my ($r, $o) = $node->psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webhook worker'");
			if ($r == 0 && $o eq '1') { $back = 1; last; }
			select(undef, undef, undef, 0.1);
		}
		$back or die 'the worker did not come back';
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	ok( $node->poll_query_until('postgres',
			q{SELECT count(*) = 0 FROM webhook.deliveries WHERE webhook = 'ledger' AND status <> 'delivered'}),
		"after $how during a replay, every delivery ends delivered");
	# requests the receiver had answered or was answering at the crash
	return $in_flight + 8;
}

# how many times the receiver got each marker
sub seen
{
	my %seen;
	for my $req (WebhookTest::received($receiver))
	{
		next unless $req->{path} eq '/slow/100/ledger';
		my $row = JSON::PP::decode_json($req->{body})->{data}{new};
		$seen{ $row->{marker} }++;
	}
	return %seen;
}

for my $how ('kill -9', 'immediate shutdown')
{
	my %before = seen();
	my $total_before = 0;
	$total_before += $_ for values %before;
	my $sent_at_crash = replay_and_crash($how) - $total_before;
	my %after = seen();
	my @missed = grep { ($after{$_} // 0) - ($before{$_} // 0) < 1 } @committed;
	is(scalar(@missed), 0, "after $how during a replay every event was received again")
	  or diag("missed: @missed");
	my $twice = 0;
	$twice += $after{$_} - $before{$_} - 1 for @committed;
	cmp_ok($twice, '<=', $sent_at_crash,
		"after $how only requests started before the crash went twice");
	note sprintf("%s during a replay: 120 replayed, %d sent before the crash, %d sent twice",
		$how, $sent_at_crash - 8, $twice);
}

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
