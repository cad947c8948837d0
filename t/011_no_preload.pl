# Without shared_preload_libraries (a restore, a typo), writes to watched
# tables keep working and their events wait in the queue; CREATE EXTENSION
# and register warn, and webhook.webhooks says nothing delivers.  Once the
# server runs with the library, the waiting events are delivered.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION webhook');
is($rc, 0, 'CREATE EXTENSION works without the preload');
like($err, qr/WARNING:  webhook is not in shared_preload_libraries, so nothing is delivered/,
	'CREATE EXTENSION warns');

$node->safe_psql('postgres', 'CREATE TABLE orders (id int PRIMARY KEY, status text)');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT webhook.register('late', '$url/ok/late', 'orders')");
is($rc, 0, 'register works without the preload');
like($err, qr/WARNING:  webhook is not in shared_preload_libraries/, 'register warns');

# a new session, which has not loaded the library yet, writes
($rc, $out, $err) = $node->psql('postgres', q{
	INSERT INTO orders VALUES (1, 'waiting');
	UPDATE orders SET status = 'still waiting';
	TRUNCATE orders;
});
is($rc, 0, 'writes to a watched table succeed without the preload') or diag($err);
is($err, '', 'and say nothing');
is($node->safe_psql('postgres', "SELECT pending FROM webhook.webhooks WHERE name = 'late'"),
	'3', 'their events wait in the queue');
is($node->safe_psql('postgres', "SELECT worker FROM webhook.webhooks WHERE name = 'late'"),
	'not running: webhook is not in shared_preload_libraries', 'webhooks.worker says why nothing delivers');

$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
});
$node->restart;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM webhook.deliveries WHERE status = 'delivered'"),
	'after a restart with the library, the waiting events are delivered');
is($node->safe_psql('postgres', "SELECT worker FROM webhook.webhooks WHERE name = 'late'"),
	'running', 'and webhooks.worker says running');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
