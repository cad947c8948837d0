# The commands that need a database to themselves are never held up by its
# worker, even while its requests hang: ALTER DATABASE ... RENAME, CREATE
# DATABASE ... TEMPLATE, DROP EXTENSION, DROP DATABASE (without and with
# FORCE) each return within a second.  A renamed database, and one whose
# DROP DATABASE failed, get their worker back; a role that may not drop the
# database cannot stop its worker that way.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $node = WebhookTest::start_node('exclusive');

# a database whose webhook posts to a receiver that never answers
sub hanging_db
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION webhook;
		CREATE TABLE t (id int PRIMARY KEY);
		SELECT webhook.register('hang', '$receiver->{url}/hang/$db', 't', timeout => '60 s');
		INSERT INTO t SELECT generate_series(1, 3);
	});
	wait_sending($db);
}

sub wait_sending
{
	my ($db) = @_;
	$node->poll_query_until($db,
		"SELECT count(*) > 0 FROM webhook.deliveries WHERE status = 'sending'")
	  or die "nothing in flight in $db";
}

sub timed
{
	my ($db, $sql, $what) = @_;
	my $t0 = time;
	$node->safe_psql($db, $sql);
	my $took = time - $t0;
	# the figure is noted; the bound tells a worker that left at once from
	# PostgreSQL's own 5 s wait for it
	cmp_ok($took, '<', 4, "$what returns while a request hangs, without waiting out the worker");
	note sprintf('%s: %.3f s', $what, $took);
}

sub worker_back
{
	my ($db) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'webhook worker' AND datname = '$db'});
}

hanging_db('x');

timed('postgres', 'ALTER DATABASE x RENAME TO y', 'ALTER DATABASE ... RENAME');
ok(worker_back('y'), 'the renamed database gets its worker back');
wait_sending('y');

timed('postgres', 'CREATE DATABASE z TEMPLATE y', 'CREATE DATABASE ... TEMPLATE');
ok(worker_back('y'), 'the template database gets its worker back');
ok(worker_back('z'), 'and its copy, which has the extension, gets one');
wait_sending('y');

timed('y', 'DROP EXTENSION webhook CASCADE', 'DROP EXTENSION');
ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM pg_stat_activity
		 WHERE backend_type = 'webhook worker' AND datname = 'y'}),
	'the worker leaves a database whose extension was dropped');

$node->safe_psql('y', qq{
	CREATE EXTENSION webhook;
	SELECT webhook.register('hang', '$receiver->{url}/hang/y', 't', timeout => '60 s');
	INSERT INTO t SELECT generate_series(4, 6);
});
wait_sending('y');

# someone who may not drop the database cannot stop its worker either
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN CREATEDB');
my $pid = WebhookTest::worker_pid($node, 'y');
my ($rc0, $out0, $err0) = $node->psql('postgres', 'DROP DATABASE y',
	extra_params => [ '-U', 'mallory' ]);
like($err0, qr/must be owner of database y/, 'a DROP DATABASE by a role that does not own it fails');
($rc0, $out0, $err0) = $node->psql('postgres', 'ALTER DATABASE y RENAME TO y2',
	extra_params => [ '-U', 'mallory' ]);
like($err0, qr/must be owner of database y/, 'so does its rename');
is(WebhookTest::worker_pid($node, 'y'), $pid, 'and the worker was never stopped');

# a DROP DATABASE that fails: the worker comes back
my ($rc, $out, $err) = $node->psql('postgres', 'BEGIN; DROP DATABASE y; COMMIT;');
like($err, qr/cannot run inside a transaction block/, 'a DROP DATABASE that fails');
ok(worker_back('y'), 'leaves the database its worker');
wait_sending('y');

timed('postgres', 'DROP DATABASE y', 'DROP DATABASE');
timed('postgres', 'DROP DATABASE z WITH (FORCE)', 'DROP DATABASE ... WITH (FORCE)');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webhook worker'}),
	'0', 'no worker is left');

my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR:  (?!DROP DATABASE cannot run inside a transaction block|must be owner of database y)/,
	'no ERROR in the log but the failed DROP DATABASEs and rename');
unlike($log, qr/FATAL/, 'no FATAL in the log');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
