# Shared helpers for the Perl TAP fault tests: a receiver on 127.0.0.1, a
# node with the extension preloaded, and the ledger oracle.
package WebhookTest;

use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

# Start test/receiver.py, on a given port or any; returns { url, log, handle }.
# $log: append to the log of an earlier receiver (one that restarts).
sub start_receiver
{
	my ($port, $log) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $py = $ENV{PYTHON} || '/usr/bin/python3';
	my $script = $ENV{WEBHOOK_RECEIVER} or die "WEBHOOK_RECEIVER is not set";
	$log //= "$dir/log";
	my @args = ($py, $script, "$dir/port", $log);
	push @args, '--port', $port if $port;
	my $h = IPC::Run::start(\@args, '>', "$dir/out", '2>&1');
	for (1 .. 100)
	{
		last if -s "$dir/port";
		select(undef, undef, undef, 0.1);
	}
	$port = PostgreSQL::Test::Utils::slurp_file("$dir/port");
	return { url => "http://127.0.0.1:$port", log => $log, handle => $h };
}

sub stop_receiver
{
	my ($r) = @_;
	$r->{handle}->kill_kill;
}

# A started node with the extension preloaded and a fast retry schedule;
# $extra is appended to postgresql.conf (later lines win).
sub start_node
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
webhook.allowed_networks = '127.0.0.0/8'
webhook.retry_schedule = '100ms'
restart_after_crash = on
max_prepared_transactions = 10
} . ($extra // ''));
	$node->start;
	return $node;
}

# A TCP port on 127.0.0.1 that nothing listens on (yet).
sub free_port
{
	require IO::Socket::INET;
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
	  or die "cannot bind: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# The pid of the delivery worker of database $db (default postgres), or ''
# if none runs.
sub worker_pid
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = '$db'");
}

# Every request the receiver logged, as hashes.
sub received
{
	my ($r) = @_;
	return () unless -e $r->{log};
	my @out;
	open my $fh, '<', $r->{log} or die "cannot read $r->{log}: $!";
	while (my $line = <$fh>)
	{
		next unless $line =~ /\S/;
		last unless $line =~ /\n\z/;    # the receiver is still writing this one
		push @out, decode_json($line);
	}
	close $fh;
	return @out;
}

# How often each marker reached the receiver on $path: { marker => count }.
sub marker_counts
{
	my ($r, $path) = @_;
	my %seen;
	for my $req (received($r))
	{
		next unless $req->{path} eq $path;
		my $ev = eval { decode_json($req->{body}) } or next;
		for my $e (ref $ev eq 'ARRAY' ? @$ev : ($ev))
		{
			my $row = $e->{data}{new} // $e->{data}{old};
			$seen{ $row->{marker} }++ if $row && defined $row->{marker};
		}
	}
	return \%seen;
}

# Poll (every 10 ms, at most $secs seconds, default 30) until the receiver
# has seen at least $n distinct markers on $path.  Returns true if it did.
sub wait_markers
{
	my ($r, $path, $n, $secs) = @_;
	my $deadline = Time::HiRes::time() + ($secs // 30);
	while (Time::HiRes::time() < $deadline)
	{
		return 1 if keys %{ marker_counts($r, $path) } >= $n;
		select(undef, undef, undef, 0.01);
	}
	diag("timed out waiting for $n markers on $path");
	return 0;
}

# The ledger oracle: every committed marker reached the receiver on $path at
# least once; no rolled-back marker ever did.  Returns the counts.
sub ledger_check
{
	my ($r, $path, $committed, $rolled_back) = @_;
	my %seen;
	for my $req (received($r))
	{
		next unless $req->{path} eq $path;
		my $ev = decode_json($req->{body});
		my $row = $ev->{data}{new} // $ev->{data}{old};
		$seen{ $row->{marker} }++ if $row && defined $row->{marker};
	}
	my @missing = grep { !$seen{$_} } @$committed;
	my @leaked = grep { $seen{$_} } @$rolled_back;
	my $dups = 0;
	$dups += $seen{$_} - 1 for grep { $seen{$_} } @$committed;
	is(scalar(@missing), 0, 'every committed marker was received')
	  or diag("missing: @missing");
	is(scalar(@leaked), 0, 'no rolled-back marker was received')
	  or diag("leaked: @leaked");
	return {
		committed => scalar(@$committed),
		delivered => scalar(@$committed) - scalar(@missing),
		duplicates => $dups,
		leaked => scalar(@leaked),
	};
}

1;
