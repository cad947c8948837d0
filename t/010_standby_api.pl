# On a hot standby every API function that writes fails with 25006 and one
# plain line (no PL/pgSQL context); the one that only reads still works.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $primary = PostgreSQL::Test::Cluster->new('standby_api_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION webhook;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT webhook.register('h', 'http://127.0.0.1:9/', 't');
	SELECT webhook.pause('h');
	SELECT webhook.ping('h');
});
my $delivery = $primary->safe_psql('postgres', 'SELECT max(id) FROM webhook.queue');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby_api_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');

my %calls = (
	register => "webhook.register('h2', 'http://127.0.0.1:9/', 't')",
	unregister => "webhook.unregister('h')",
	pause => "webhook.pause('h')",
	resume => "webhook.resume('h')",
	ping => "webhook.ping('h')",
	redeliver => "webhook.redeliver($delivery)",
);
for my $f (sort keys %calls)
{
	my ($rc, $out, $err) = $standby->psql('postgres',
		"\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\nSELECT $calls{$f};");
	like($err, qr/ERROR:  25006: cannot execute webhook\.$f\(\) during recovery/,
		"$f on a standby fails with 25006");
	unlike($err, qr/CONTEXT|PL\/pgSQL|nextval/, "$f: no context dump");
}

is($standby->safe_psql('postgres', "SELECT webhook.secret('h') LIKE 'whsec_%'"), 't',
	'secret, which only reads, works on a standby');
like($standby->safe_psql('postgres', "SELECT worker FROM webhook.webhooks WHERE name = 'h'"),
	qr/^not running: the server is a hot standby$/, 'webhooks.worker says nothing delivers here');

$standby->stop;
$primary->stop;
done_testing();
