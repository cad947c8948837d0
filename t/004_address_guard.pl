# The outbound address guard: without webhook.allowed_networks, no spelling
# of a loopback or unspecified address reaches a listener on 127.0.0.1; the
# check is on the resolved address, so numeric tricks and names that resolve
# to loopback are caught too.  Allowing 127.0.0.0/8 by reload lets them through.
# Proxy environment variables are ignored.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my ($port) = $receiver->{url} =~ /:(\d+)$/;
my $node = WebhookTest::start_node('guard', "webhook.allowed_networks = ''\n");

my @hosts = ('127.0.0.1', '127.1', '2130706433', '0x7f.1', '017700000001',
	'0.0.0.0', '[::ffff:127.0.0.1]', '[::1]', 'localhost', '127.0.0.1.nip.io.invalid');
$node->safe_psql('postgres', 'CREATE EXTENSION webhook; CREATE TABLE t (id int PRIMARY KEY);');
my $i = 0;
for my $h (@hosts)
{
	$i++;
	$node->safe_psql('postgres',
		"SELECT webhook.register('h$i', 'http://$h:$port/ok/h$i', 't', max_attempts => 1)");
}
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1)');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status <> 'failed'"),
	'every delivery fails');

$i = 0;
for my $h (@hosts)
{
	$i++;
	my $err = $node->safe_psql('postgres',
		"SELECT last_error FROM webhook.deliveries WHERE webhook = 'h$i'");
	if ($h =~ /invalid$/)
	{
		like($err, qr/resolve/i, "$h does not resolve");
		next;
	}
	like($err, qr/refused: address is loopback, private or reserved/, "$h is refused by the guard")
	  or diag("error: $err");
}
my @got = WebhookTest::received($receiver);
is(scalar(@got), 0, 'the listener on 127.0.0.1 saw no request');

# a superuser allows loopback; a reload applies it
$node->append_conf('postgresql.conf', "webhook.allowed_networks = '127.0.0.0/8, ::1/128'\n");
$node->reload;
$node->safe_psql('postgres',
	"SELECT webhook.redeliver(id) FROM webhook.deliveries WHERE webhook IN ('h1', 'h2', 'h4')");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM webhook.deliveries WHERE status = 'delivered'"),
	'allowed networks are reached after a reload');

# the setting is checked
my ($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET webhook.allowed_networks = '127.0.0.0/33'");
like($err, qr/not an IPv4 or IPv6 network/, 'a malformed network is refused');
$node->stop;

# proxy variables in the server's environment are ignored: requests go
# straight to the receiver, never through the "proxy"
my $proxy = WebhookTest::start_receiver();
my $proxied = WebhookTest::start_node('proxied');
{
	local $ENV{http_proxy} = $proxy->{url};
	local $ENV{HTTP_PROXY} = $proxy->{url};
	local $ENV{https_proxy} = $proxy->{url};
	local $ENV{ALL_PROXY} = $proxy->{url};
	$proxied->restart;
}
$proxied->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE p (id int PRIMARY KEY);
	SELECT webhook.register('direct', 'http://127.0.0.1:$port/ok/direct', 'p');
	INSERT INTO p VALUES (1);
});
ok( $proxied->poll_query_until('postgres',
		"SELECT status = 'delivered' FROM webhook.deliveries WHERE webhook = 'direct'"),
	'delivered with proxy variables set');
is(scalar(grep { $_->{path} =~ m{/ok/direct} } WebhookTest::received($receiver)), 1,
	'straight to the receiver');
my @through_proxy = WebhookTest::received($proxy);
is(scalar(@through_proxy), 0, 'the proxy saw nothing');
$proxied->stop;
WebhookTest::stop_receiver($proxy);

WebhookTest::stop_receiver($receiver);
done_testing();
