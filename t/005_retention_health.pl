# Housekeeping: delivered and failed history is purged after
# webhook.retention; a webhook whose attempts all fail for
# webhook.disable_after is disabled with the reason, keeps capturing, and
# resume re-enables it and delivers what it held; a webhook whose owner
# loses SELECT on its table stops sending, with the reason.
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
my $node = WebhookTest::start_node('housekeeping', qq{
webhook.retention = '1s'
webhook.disable_after = '2s'
webhook.retry_schedule = '200ms'
});

$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT webhook.register('kept-short', '$url/ok/short', 't');
	INSERT INTO t SELECT generate_series(1, 50);
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.queued"),
	'delivered history is purged after webhook.retention');
is(scalar(grep { $_->{path} eq '/ok/short' } WebhookTest::received($receiver)), 50,
	'after all 50 were delivered');

$node->safe_psql('postgres', qq{
	CREATE TABLE u (id int PRIMARY KEY);
	SELECT webhook.register('broken', '$url/status/500/broken', 'u', max_attempts => 1000);
	INSERT INTO u VALUES (1);
});
ok( $node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM webhook.webhooks WHERE name = 'broken'"),
	'a webhook failing for webhook.disable_after is disabled');
like($node->safe_psql('postgres', "SELECT disabled_reason FROM webhook.webhooks WHERE name = 'broken'"),
	qr/every delivery attempt failed since/, 'with the reason');
my $log = slurp_file($node->logfile);
like($log, qr/webhook "broken" \(id \d+\) disabled: every delivery attempt failed since/,
	'and a LOG line naming it by name and id');
$node->safe_psql('postgres', 'INSERT INTO u VALUES (2)');
is($node->safe_psql('postgres', "SELECT pending FROM webhook.webhooks WHERE name = 'broken'"),
	'2', 'a disabled webhook keeps capturing');

$node->safe_psql('postgres', qq{
	UPDATE webhook.hook SET url = '$url/ok/fixed' WHERE name = 'broken';
	SELECT webhook.resume('broken');
});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE webhook = 'broken' AND status <> 'delivered'"),
	'resume delivers what was held');
is(scalar(grep { $_->{path} eq '/ok/fixed' } WebhookTest::received($receiver)), 2,
	'both held events arrive');

# the owner loses SELECT: the webhook stops, and says why
$node->safe_psql('postgres', qq{
	CREATE ROLE alice;
	CREATE TABLE private (id int PRIMARY KEY, note text);
	GRANT SELECT ON private TO alice;
	GRANT EXECUTE ON FUNCTION webhook.register(text, text, regclass, name, text[], text, jsonb,
	                                          interval, integer, boolean, integer, text[], text, text) TO alice;
	SET ROLE alice;
	SELECT webhook.register('alices', '$url/ok/alices', 'private');
	RESET ROLE;
	INSERT INTO private VALUES (1, 'readable');
});
ok( $node->poll_query_until('postgres',
		"SELECT status = 'delivered' FROM webhook.deliveries WHERE webhook = 'alices'"),
	'a webhook of an ordinary role delivers');
$node->safe_psql('postgres', 'REVOKE SELECT ON private FROM alice');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM webhook.webhooks WHERE name = 'alices'"),
	'it is disabled once its owner cannot read the table');
like($node->safe_psql('postgres', "SELECT disabled_reason FROM webhook.webhooks WHERE name = 'alices'"),
	qr/owner can no longer read every row of table public.private/, 'with the reason');
$node->safe_psql('postgres', "INSERT INTO private VALUES (2, 'not for alice')");
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1000)');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE webhook = 'kept-short' AND status <> 'delivered'"),
	'the worker has run since');
is(scalar(grep { $_->{body} =~ /not for alice/ } WebhookTest::received($receiver)), 0,
	'nothing the owner may not read is sent');

# a schema webhook checks every table it watches, not just the schema, and
# row security turned on later stops a webhook whose owner it would filter
$node->safe_psql('postgres', qq{
	CREATE SCHEMA shop;
	CREATE TABLE shop.orders (id int);
	CREATE TABLE shop.refunds (id int);
	GRANT USAGE ON SCHEMA shop TO alice;
	GRANT SELECT ON shop.orders, shop.refunds TO alice;
	CREATE TABLE notes (id int);
	GRANT SELECT ON notes TO alice;
	SET ROLE alice;
	SELECT webhook.register('alices-shop', '$url/ok/shop', schema => 'shop');
	SELECT webhook.register('alices-notes', '$url/ok/notes', 'notes');
	RESET ROLE;
});
$node->safe_psql('postgres', 'REVOKE SELECT ON shop.refunds FROM alice');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM webhook.webhooks WHERE name = 'alices-shop'"),
	'a schema webhook stops when its owner loses SELECT on one of its tables');
like($node->safe_psql('postgres', "SELECT disabled_reason FROM webhook.webhooks WHERE name = 'alices-shop'"),
	qr/owner can no longer read every row of table shop.refunds/, 'naming that table');
# a trigger that only looks like a webhook's, on a table its owner cannot
# read, stops nothing: anyone may create one on a table of their own
$node->safe_psql('postgres', qq{
	CREATE TABLE memos (id int);
	GRANT SELECT ON memos TO alice;
	SET ROLE alice;
	SELECT webhook.register('alices-memos', '$url/ok/memos', 'memos');
	RESET ROLE;
	CREATE ROLE mallory;
	CREATE TABLE mallorys (id int);
	ALTER TABLE mallorys OWNER TO mallory;
});
my $memos_id = $node->safe_psql('postgres', "SELECT id FROM webhook.hook WHERE name = 'alices-memos'");
$node->safe_psql('postgres', qq{
	SET ROLE mallory;
	CREATE TRIGGER webhook_${memos_id}_row AFTER INSERT ON mallorys
	    FOR EACH ROW EXECUTE FUNCTION webhook.capture('$memos_id');
	RESET ROLE;
});
$node->safe_psql('postgres', 'ALTER TABLE notes ENABLE ROW LEVEL SECURITY');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM webhook.webhooks WHERE name = 'alices-notes'"),
	'a webhook stops when row security its owner is subject to is turned on');
is($node->safe_psql('postgres', "SELECT state FROM webhook.webhooks WHERE name = 'alices-memos'"),
	'active', 'a look-alike trigger on a table its owner cannot read does not stop a webhook');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
