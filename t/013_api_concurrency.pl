# Two sessions each run register / pause / resume / ping / unregister of one
# name 150 times while a third writes to the watched table and the worker
# delivers: every call either does its job or fails with the documented
# SQLSTATE (42710 for a name taken, 42704 for a webhook gone), never an
# internal error and never a deadlock; the writer never fails.  Then two
# sessions register and unregister webhooks of their own on one table at
# once: its shared trigger ends up serving exactly the webhooks that exist
# (none lost to the other session's remaking of it); and a repeatable-read
# transaction whose snapshot predates another's registration fails with
# 40001 instead of undoing it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};
my $node = WebhookTest::start_node('api_concurrency');
$node->safe_psql('postgres', q{
	CREATE EXTENSION webhook;
	CREATE TABLE cw (id serial PRIMARY KEY, v text);
});

my $dir = PostgreSQL::Test::Utils::tempdir();
my @calls = (
	[ register => "SELECT webhook.register('cc', '$url/ok/cc', 'cw');" ],
	[ pause => "SELECT webhook.pause('cc');" ],
	[ resume => "SELECT webhook.resume('cc');" ],
	[ ping => "SELECT webhook.ping('cc');" ],
	[ unregister => "SELECT webhook.unregister('cc');" ],
);
my %allowed = (register => '42710', pause => '42704', resume => '42704',
	ping => '42704', unregister => '42704');

# one statement per line, so that psql's line numbers name the call
my @line_fn;
open my $fh, '>', "$dir/api.sql" or die;
for (1 .. 150)
{
	for my $c (@calls)
	{
		print $fh "$c->[1]\n";
		push @line_fn, $c->[0];
	}
}
close $fh;
open $fh, '>', "$dir/writer.sql" or die;
print $fh "INSERT INTO cw (v) VALUES ('w$_');\n" for 1 .. 1500;
close $fh;

my @psql = ('psql', '-X', '-q', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'));
my (%out, %err, %h);
for my $s ('a', 'b', 'w')
{
	my $file = $s eq 'w' ? "$dir/writer.sql" : "$dir/api.sql";
	$h{$s} = IPC::Run::start([ @psql, '-f', $file ], '>', \$out{$s}, '2>', \$err{$s});
}
$h{$_}->finish for keys %h;

my (%bad, $errors);
for my $s ('a', 'b')
{
	for my $line (split /\n/, $err{$s})
	{
		next unless $line =~ /^psql:[^:]+:(\d+): ERROR:  (\w{5}): (.*)$/;
		my ($n, $state, $msg) = ($1, $2, $3);
		my $fn = $line_fn[ $n - 1 ];
		$errors++;
		$bad{"$fn $state $msg"}++ unless $state eq $allowed{$fn};
	}
}
note("errors with the documented SQLSTATE: " . ($errors // 0));
is_deeply(\%bad, {}, 'every failed call gave its documented SQLSTATE')
  or diag(explain(\%bad));
unlike($err{w}, qr/ERROR/, 'the writer never failed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cw'), '1500', 'every write committed');
my $log = slurp_file($node->logfile);
my @deadlocks = grep { /deadlock detected/ } split /\n/, $log;
is(scalar(@deadlocks), 0, 'no deadlock, in any session or in the worker')
  or diag(join("\n", @deadlocks));

# the table's triggers serve exactly the webhooks that watch it
my $served = q{SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM webhook.hook
	                  WHERE relation = 'cw'::regclass)::text || ' ' ||
	              (SELECT coalesce(array_agg(i ORDER BY i), '{}') FROM webhook._capture_trigger c,
	                      unnest(c.hooks) i WHERE c.rel = 'cw'::regclass AND c.kind = 'row')::text};
my ($want, $got);
for my $phase ('register', 'unregister')
{
	for my $s ('a', 'b')
	{
		open $fh, '>', "$dir/$phase-$s.sql" or die;
		for my $i (1 .. 40)
		{
			next if $phase eq 'unregister' && $i % 2;
			print $fh $phase eq 'register'
			  ? "SELECT webhook.register('own-$s$i', '$url/ok/own', 'cw');\n"
			  : "SELECT webhook.unregister('own-$s$i');\n";
		}
		close $fh;
		$h{$s} = IPC::Run::start([ @psql, '-f', "$dir/$phase-$s.sql" ], '>', \$out{$s}, '2>', \$err{$s});
	}
	$h{$_}->finish for ('a', 'b');
	unlike($err{a} . $err{b}, qr/ERROR/, "concurrent ${phase}s on one table all succeed");
	($want, $got) = split / /, $node->safe_psql('postgres', $served);
	is($got, $want, "after concurrent ${phase}s the table's trigger serves every webhook watching it");
}

my $connstr = $node->connstr('postgres');
my ($rr_out, $rr_err) = ('', '');
IPC::Run::run([ @psql, '-v', 'ON_ERROR_STOP=0' ], '<', \qq{
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM webhook.hook;
\\! psql -X -q -d "$connstr" -c "SELECT webhook.register('rr-other', '$url/ok/rr', 'cw')"
SELECT webhook.register('rr-late', '$url/ok/rr', 'cw');
ROLLBACK;
}, '>', \$rr_out, '2>', \$rr_err);
like($rr_err, qr/ERROR:  40001: could not serialize access due to a concurrent change of the webhooks of table public.cw/,
	'a registration from a snapshot older than another one fails with 40001');
($want, $got) = split / /, $node->safe_psql('postgres', $served);
is($got, $want, 'and the other registration keeps its trigger');
like($want, qr/\b@{[ $node->safe_psql('postgres', "SELECT id FROM webhook.hook WHERE name = 'rr-other'") ]}\b/,
	'the other registration exists');

$node->stop;
WebhookTest::stop_receiver($receiver);
done_testing();
