# Unregister leaves nothing behind, whatever commits after it: an event
# queued (by ping or by a write) in a transaction still open when the webhook
# is unregistered is never sent, never shown, and removed from the queue.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

# retention of 10 s: the worker's retention pass runs every second
my $node = WebhookTest::start_node('unregister_race', "webhook.retention = '10s'\n");
$node->safe_psql('postgres', q{
	CREATE EXTENSION webhook;
	CREATE TABLE orders (id int PRIMARY KEY);
});

my $orphans = q{SELECT count(*) FROM webhook.queue q
	WHERE NOT EXISTS (SELECT FROM webhook.hook h WHERE h.id = q.hook_id)};

# One session ($s1) queues an event and stays open; another ($s2)
# unregisters, with the isolation level given; $s1 commits; $s2 finishes.
sub race
{
	my ($what, $isolation) = @_;
	$node->safe_psql('postgres', q{
		SELECT webhook.register('race', 'http://127.0.0.1:9/', 'orders');
		SELECT webhook.pause('race');
	});
	my $s1 = $node->background_psql('postgres');
	my $s2 = $node->background_psql('postgres');
	$s1->query_safe('BEGIN');
	$s1->query_safe($what);
	$s2->query_safe("BEGIN ISOLATION LEVEL $isolation");
	# takes the snapshot now, if repeatable read
	my $pid2 = $s2->query_safe('SELECT pg_backend_pid()');
	# unregister may wait for \$s1: send it, and wait until it either
	# is done or waits for a lock
	$s2->{stdin} .= "SELECT webhook.unregister('race');\n";
	$s2->{run}->pump_nb();
	ok( $node->poll_query_until('postgres', qq{
			SELECT query LIKE '%unregister%'
			       AND (state = 'idle in transaction' OR wait_event_type = 'Lock')
			  FROM pg_stat_activity WHERE pid = $pid2}),
		"$what / $isolation: unregister ran or waits");
	$s1->query_safe('COMMIT');
	$s2->query_safe('COMMIT');
	$s1->quit;
	$s2->quit;
	is($node->safe_psql('postgres', "SELECT count(*) FROM webhook.hook WHERE name = 'race'"),
		'0', "$what / $isolation: unregistered");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM webhook.deliveries WHERE webhook = 'race'"),
		'0', "$what / $isolation: nothing shown in webhook.deliveries");
	ok($node->poll_query_until('postgres', "SELECT ($orphans) = 0"),
		"$what / $isolation: nothing left in the queue for a webhook that no longer exists");
}

my $i = 0;
for my $isolation ('READ COMMITTED', 'REPEATABLE READ')
{
	race("SELECT webhook.ping('race')", $isolation);
	$i++;
	race("INSERT INTO orders VALUES ($i)", $isolation);
}

$node->stop;
done_testing();
