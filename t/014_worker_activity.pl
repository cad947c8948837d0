# The worker says in pg_stat_activity what it is doing (idle, sending N),
# and its log lines name a webhook by name and id.
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
my $node = WebhookTest::start_node('worker_activity');
$node->safe_psql('postgres', q{
	CREATE EXTENSION webhook;
	CREATE TABLE t (id int PRIMARY KEY);
	CREATE TABLE u (id int PRIMARY KEY);
});
my $activity = q{SELECT state || '/' || query FROM pg_stat_activity
	WHERE backend_type = 'webhook worker'};

ok($node->poll_query_until('postgres', $activity, 'idle/idle'),
	'an idle worker shows idle');

$node->safe_psql('postgres', qq{
	SELECT webhook.register('hang', '$url/hang/t', 't', timeout => '1 hour');
	INSERT INTO t VALUES (1);
});
ok($node->poll_query_until('postgres', $activity, 'active/sending 1'),
	'with one request hanging it shows sending 1');
$node->safe_psql('postgres', "SELECT webhook.unregister('hang')");

# 410 Gone disables the webhook: the log names it
my $offset = -s $node->logfile;
my $gone = $node->safe_psql('postgres', qq{
	SELECT webhook.register('crm', '$url/status/410', 'u');
});
$node->safe_psql('postgres', 'INSERT INTO u VALUES (1)');
ok($node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM webhook.webhooks WHERE name = 'crm'"),
	'410 disables the webhook');
ok($node->wait_for_log(qr/LOG:  webhook "crm" \(id $gone\) disabled: /, $offset),
	'the log names the webhook disabled by a 410 by name and id');

# so does the log of a webhook stopped because its owner lost SELECT
$offset = -s $node->logfile;
my $owned = $node->safe_psql('postgres', qq{
	CREATE ROLE wa_owner;
	GRANT SELECT ON t TO wa_owner;
	GRANT EXECUTE ON FUNCTION webhook.register(text, text, regclass, name, text[], text, jsonb,
	                                           interval, integer, boolean, integer, text[], text, text)
	  TO wa_owner;
	SET ROLE wa_owner;
	SELECT webhook.register('owned', '$url/ok/owned', 't');
});
$node->safe_psql('postgres', 'REVOKE SELECT ON t FROM wa_owner');
ok($node->wait_for_log(qr/LOG:  webhook "owned" \(id $owned\) disabled: its owner can no longer read/,
		$offset),
	'the log names the webhook disabled for its owner by name and id');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
