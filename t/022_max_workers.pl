# webhook.max_workers caps the worker slots: with two slots and three
# databases with webhooks, the third is named in the log with a hint, and
# delivers as soon as one of the others drops its extension.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('max_workers', "webhook.max_workers = 2\n");

for my $db (qw(d1 d2 d3))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION webhook;
		CREATE TABLE ledger (id serial PRIMARY KEY, marker text NOT NULL);
		SELECT webhook.register('hook', '$receiver->{url}/ok/$db', 'ledger');
		INSERT INTO ledger (marker) VALUES ('$db-1');
	});
}
ok(WebhookTest::wait_markers($receiver, '/ok/d1', 1), 'd1 delivers');
ok(WebhookTest::wait_markers($receiver, '/ok/d2', 1), 'd2 delivers');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity
		 WHERE backend_type = 'webhook worker'}),
	'd1,d2', 'two workers, no more');
is($node->safe_psql('d3', "SELECT count(*) FROM webhook.deliveries WHERE status = 'delivered'"),
	'0', 'd3 has no worker: nothing delivered');
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  no webhook worker slot is free for database "d3"/, 'the log names d3');
like($log, qr/HINT:  Raise webhook.max_workers/, 'with a hint');

$node->safe_psql('d1', 'DROP EXTENSION webhook CASCADE');
ok(WebhookTest::wait_markers($receiver, '/ok/d3', 1, 10),
	'd3 delivers once d1 dropped its extension');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity
		 WHERE backend_type = 'webhook worker'}),
	'd2,d3', 'the slot went to d3');
$log = slurp_file($node->logfile);
unlike($log, qr/ERROR|FATAL/, 'no ERROR or FATAL in the log');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
