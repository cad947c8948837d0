# pg_dump and restore keep the webhooks (names, secrets, what they watch,
# their triggers, their filters, format and rotated secrets) and replay no history; after the restore, changes flow
# again, with webhook-ids that never repeat the old ones.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};
my $old = WebhookTest::start_node('dump_source');

$old->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	CREATE SCHEMA app;
	CREATE TABLE app.items (id int PRIMARY KEY);
	CREATE TABLE app.parted (id int) PARTITION BY RANGE (id);
	CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES FROM (0) TO (10);
	SELECT webhook.register('orders', '$url/ok/orders', 'orders', events => '{insert,update}');
	SELECT webhook.register('app', '$url/ok/app', schema => 'app');
	CREATE TABLE invoices (id int PRIMARY KEY, status text);
	SELECT webhook.register('paid', '$url/ok/paid', 'invoices', events => '{insert}',
	                        columns => '{status}', condition => \$\$new.status = 'paid'\$\$, format => 'xml');
	SELECT webhook.rotate_secret('paid');
	INSERT INTO orders VALUES (1, 'before the dump');
	INSERT INTO app.items VALUES (1);
});
ok( $old->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM webhook.deliveries WHERE status = 'delivered'"),
	'delivered before the dump');
my $secret = $old->safe_psql('postgres', "SELECT webhook.secret('orders')");
my $filters = "SELECT columns, condition, format, cardinality(old_secrets) FROM webhook.hook WHERE name = 'paid'";
my $paid = $old->safe_psql('postgres', $filters);
my $triggers = q{SELECT string_agg(tgrelid::regclass || ' ' || tgname, ', ' ORDER BY tgrelid::regclass::text, tgname)
	FROM pg_trigger WHERE tgfoid = 'webhook.capture()'::regprocedure};
my $old_triggers = $old->safe_psql('postgres', $triggers);

my $dump = PostgreSQL::Test::Utils::tempdir() . '/dump.custom';
$old->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('postgres') ], 'pg_dump');
$old->stop;

my $new = WebhookTest::start_node('dump_target');
$new->command_ok([ 'pg_restore', '--exit-on-error', '-d', $new->connstr('postgres'), $dump ],
	'pg_restore');

is($new->safe_psql('postgres', 'SELECT name, watches, events, state FROM webhook.webhooks ORDER BY name'),
	"app|schema app|{insert,update,delete,truncate}|active\norders|table orders|{insert,update}|active\n"
	  . "paid|table invoices|{insert}|active",
	'the webhooks are back');
is($new->safe_psql('postgres', "SELECT webhook.secret('orders')"), $secret, 'with their secrets');
is($new->safe_psql('postgres', 'SELECT count(*) FROM webhook.queue'), '0', 'no history is replayed');
is($new->safe_psql('postgres', $triggers), $old_triggers,
	'the triggers are back, once each (partitions\' truncate triggers too)');
is($new->safe_psql('postgres',
		"SELECT count(*) FROM pg_trigger WHERE tgfoid = 'webhook.capture()'::regprocedure"),
	'8', 'eight of them: orders, invoices, app.items and app.parted, app.parted_1');
is($new->safe_psql('postgres', $filters), $paid, 'with their filters, format and old secrets');

$new->safe_psql('postgres', q{
	INSERT INTO orders VALUES (2, 'after the restore');
	CREATE TABLE app.later (id int);
	INSERT INTO app.later VALUES (7);
});
ok( $new->poll_query_until('postgres',
		"SELECT count(*) = 2 AND bool_and(status = 'delivered') FROM webhook.deliveries"),
	'changes after the restore are delivered');

my @got = grep { $_->{path} eq '/ok/orders' } WebhookTest::received($receiver);
is(scalar(@got), 2, 'the orders receiver heard of both inserts, no more');
my %ids = map { $_->{headers}{'webhook-id'} => 1 } @got;
is(scalar(keys %ids), 2, 'with two different webhook-ids');

$new->safe_psql('postgres', q{INSERT INTO invoices VALUES (1, 'open'), (2, 'paid')});
ok( $new->poll_query_until('postgres',
		"SELECT count(*) = 1 AND bool_and(status = 'delivered') FROM webhook.deliveries WHERE webhook = 'paid'"),
	'the restored condition still filters');
my ($inv) = grep { $_->{path} eq '/ok/paid' } WebhookTest::received($receiver);
is($inv->{xml}{doc}{new}{id}, '2', 'and the restored format is XML');

$new->safe_psql('postgres', 'TRUNCATE app.parted_1');
ok( $new->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM webhook.queued
		 WHERE op = 'T' AND table_name = 'parted' AND status = 'd'
		   AND truncated_partition::text = '{"schema":"app","table":"parted_1"}'}),
	'a TRUNCATE of a restored partition is delivered, once, naming the partition');

$new->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
