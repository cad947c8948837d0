# What counts is commit, not capture: two-phase commit sends nothing until
# COMMIT PREPARED and nothing after ROLLBACK PREPARED, and a transaction that
# took a lower event id but commits after higher ids were delivered is still
# delivered (no high-water mark to skip it).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('commit_order');
my $url = $receiver->{url};

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
	CREATE TABLE beacon (id serial PRIMARY KEY);
	SELECT webhook.register('ledger', '$url/ok/ledger', 'ledger');
	SELECT webhook.register('beacon', '$url/ok/beacon', 'beacon');
});

# The worker has caught up with everything committed before this call once
# a beacon inserted now is delivered.
my $beacons = 0;
sub caught_up
{
	$beacons++;
	$node->safe_psql('postgres', 'INSERT INTO beacon DEFAULT VALUES');
	$node->poll_query_until('postgres',
		"SELECT count(*) = $beacons FROM webhook.deliveries WHERE webhook = 'beacon' AND status = 'delivered'")
	  or die "beacon $beacons not delivered";
}
sub received_markers
{
	my %seen;
	for my $req (WebhookTest::received($receiver))
	{
		next unless $req->{path} eq '/ok/ledger';
		my $ev = JSON::PP::decode_json($req->{body});
		my $row = $ev->{data}{new};
		$seen{ $row->{marker} }++ if $row;
	}
	return \%seen;
}

# two-phase commit
$node->safe_psql('postgres', q{
	BEGIN; INSERT INTO ledger (marker) VALUES ('2pc-commit'); PREPARE TRANSACTION 'a';
	BEGIN; INSERT INTO ledger (marker) VALUES ('2pc-rollback'); PREPARE TRANSACTION 'b';
});
caught_up();
ok(!received_markers()->{'2pc-commit'}, 'a prepared transaction sends nothing');
$node->safe_psql('postgres', "COMMIT PREPARED 'a'");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM webhook.deliveries WHERE webhook = 'ledger' AND status = 'delivered'"),
	'COMMIT PREPARED delivers it');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'b'");
caught_up();
ok(!received_markers()->{'2pc-rollback'}, 'ROLLBACK PREPARED sends nothing');

# the sequence trap: a lower id commits after higher ids were delivered
my $slow = $node->background_psql('postgres');
$slow->query_safe("BEGIN");
$slow->query_safe("INSERT INTO ledger (marker) VALUES ('low-id-late-commit')");
$node->safe_psql('postgres', "INSERT INTO ledger (marker) VALUES ('high-id-early-commit')");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM webhook.deliveries d JOIN webhook.queued q ON q.id = d.id
		  WHERE q.new_row->>'marker' = 'high-id-early-commit' AND d.status = 'delivered'"),
	'the later event is delivered first');
$slow->query_safe("COMMIT");
$slow->quit;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status <> 'delivered'"),
	'the earlier id, committed later, is delivered too');
my $seen = received_markers();
ok($seen->{'low-id-late-commit'} && $seen->{'high-id-early-commit'}, 'both reached the receiver');

# events captured while a webhook was paused, committed after it was resumed
# and after the worker's claim at that resume: the commit wakes the worker
# (not the 30 s safety timer)
$node->safe_psql('postgres', qq{
	CREATE TABLE held (id int);
	SELECT webhook.register('held', '$url/ok/held', 'held');
	SELECT webhook.pause('held');
});
my $held = $node->background_psql('postgres');
$held->query_safe("BEGIN");
$held->query_safe("INSERT INTO held VALUES (1)");
$node->safe_psql('postgres', "SELECT webhook.resume('held')");
caught_up();
$held->query_safe("COMMIT");
$held->quit;
my $t0 = time;
my $arrived = 0;
while (time - $t0 < 10)
{
	$arrived = $node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.deliveries WHERE webhook = 'held' AND status = 'delivered'");
	last if $arrived == 1;
	select(undef, undef, undef, 0.05);
}
is($arrived, 1, 'an event captured while paused and committed after resume is delivered at once');

# a repeatable-read transaction whose snapshot is older than a webhook
# still captures for it (the capture trigger reads the webhook's latest state)
$node->safe_psql('postgres', 'CREATE TABLE rr (id int)');
my $rr = $node->background_psql('postgres');
$rr->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ");
$rr->query_safe("SELECT count(*) FROM rr");
$node->safe_psql('postgres', "SELECT webhook.register('rr', '$receiver->{url}/ok/rr', 'rr')");
$rr->query_safe("INSERT INTO rr VALUES (1)");
$rr->query_safe("COMMIT");
$rr->quit;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM webhook.deliveries WHERE webhook = 'rr' AND status = 'delivered'"),
	'a repeatable-read transaction older than a webhook captures for it');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
