# Receivers that misbehave cost the worker nothing but their own deliveries:
# a body dripped a byte a second times out; an endless chunked body is cut
# off at the read cap (and a 2xx still counts); a reset connection is
# retried; a redirect to the metadata address is a failure, never followed;
# 429 with Retry-After waits as asked.  Meanwhile a healthy webhook keeps
# delivering.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $dir = PostgreSQL::Test::Utils::tempdir();
my $py = $ENV{PYTHON} || '/usr/bin/python3';
my $hostile = IPC::Run::start([ $py, "$FindBin::RealBin/hostile_receiver.py", "$dir/port", "$dir/log" ],
	'>', "$dir/out", '2>&1');
for (1 .. 100)
{
	last if -s "$dir/port";
	select(undef, undef, undef, 0.1);
}
my $hurl = 'http://127.0.0.1:' . slurp_file("$dir/port");
my $receiver = WebhookTest::start_receiver();

my $node = WebhookTest::start_node('hostile', "webhook.retry_schedule = '1s'\n");
$node->safe_psql('postgres', qq{
	CREATE EXTENSION webhook;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT webhook.register('drip', '$hurl/drip/x', 't', timeout => '3 s', max_attempts => 1);
	SELECT webhook.register('flood', '$hurl/flood/x', 't', timeout => '20 s', max_attempts => 1);
	SELECT webhook.register('reset', '$hurl/reset/x', 't', max_attempts => 2);
	SELECT webhook.register('redirect', '$hurl/redirect/x', 't', max_attempts => 1);
	SELECT webhook.register('ratelimit', '$hurl/ratelimit/x', 't', max_attempts => 2);
	SELECT webhook.register('healthy', '$receiver->{url}/ok/healthy', 't');
	INSERT INTO t VALUES (1);
});

ok( $node->poll_query_until('postgres',
		"SELECT status = 'delivered' FROM webhook.deliveries WHERE webhook = 'healthy'"),
	'a healthy webhook delivers while the others misbehave');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM webhook.deliveries WHERE status NOT IN ('delivered', 'failed')"),
	'every hostile delivery reaches an outcome');

my %row = map {
	my ($name, $status, $code, $err, $len) = split /\|/;
	($name => { status => $status, code => $code, error => $err // '', body => $len // '' })
} split /\n/, $node->safe_psql('postgres',
	"SELECT webhook, status, coalesce(response_status, 0), last_error, length(response_body)
	   FROM webhook.deliveries");

is($row{drip}{status}, 'failed', 'a dripping body fails');
like($row{drip}{error}, qr/timed out/i, 'on the webhook timeout');
is($row{flood}{status}, 'delivered', 'an endless 2xx body still delivers');
cmp_ok($row{flood}{body}, '<=', 1024, 'and only the start of the body is kept');
is($row{reset}{status}, 'failed', 'a reset connection fails');
my @reset = grep { $_->{path} eq '/reset/x' } map { decode_json($_) } split /\n/, slurp_file("$dir/log");
is(scalar(@reset), 2, 'after being retried');
is($row{redirect}{status}, 'failed', 'a redirect is a failure');
like($row{redirect}{error}, qr/302.*not followed/, 'and is not followed');
is($row{ratelimit}{status}, 'delivered', '429 is retried');
my @rl = map { $_->{at} } grep { $_->{path} eq '/ratelimit/x' } map { decode_json($_) } split /\n/,
  slurp_file("$dir/log");
cmp_ok($rl[1] - $rl[0], '>=', 1.9, 'after the Retry-After of 2 s, not the 1 s schedule');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'the worker never crashed');

$node->stop;
$hostile->kill_kill;
WebhookTest::stop_receiver($receiver);
done_testing();
