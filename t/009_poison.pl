# A poison event, one that can never be serialised or sent, ends failed
# with its reason, and never crash-loops the worker nor stalls other
# webhooks: a forged queue row whose body comes out NULL; a webhook whose
# stored headers or signing secret were corrupted; a database whose
# encoding has no conversion to UTF-8.
use strict;
use warnings;

use FindBin;
use Time::HiRes qw(time);
use JSON::PP;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $receiver = WebhookTest::start_receiver();
my $url = $receiver->{url};

# A query that may fail (the server may be restarting): its output, or ''.
sub try_query
{
	my ($node, $db, $sql) = @_;
	my ($ret, $out) = $node->psql($db, $sql);
	return $ret == 0 ? $out : '';
}

# Run $sql, retried for at most $secs seconds while the server cannot run
# it (it may be restarting after a crash); returns whether it ran.
sub run_sql
{
	my ($node, $db, $sql, $secs) = @_;
	my $deadline = time + $secs;
	while (1)
	{
		my ($ret, $out, $err) = $node->psql($db, $sql);
		return 1 if $ret == 0;
		if (time >= $deadline)
		{
			diag("could not run $sql: $err");
			return 0;
		}
		select(undef, undef, undef, 0.1);
	}
}

# Poll $sql until it returns t, for at most $secs seconds.
sub wait_for
{
	my ($node, $db, $sql, $secs) = @_;
	my $deadline = time + $secs;
	my ($ret, $out, $err);
	while (1)
	{
		($ret, $out, $err) = $node->psql($db, $sql);
		return 1 if $ret == 0 && $out eq 't';
		last if time >= $deadline;
		select(undef, undef, undef, 0.1);
	}
	diag("timed out after ${secs} s waiting for: $sql\nlast output: $out $err");
	return 0;
}

# The worker's pid once it runs.
sub running_worker
{
	my ($node, $db) = @_;
	wait_for($node, 'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'webhook worker'", 10)
	  or die "the webhook worker never started";
	return WebhookTest::worker_pid($node, $db);
}

# The worker neither crashed nor exited since the log was at $offset.
sub no_crash
{
	my ($node, $offset, $pid, $what) = @_;
	is( try_query($node, 'postgres',
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
		$pid, "$what: the worker still runs, with the same pid");
	my $log = slurp_file($node->logfile, $offset);
	unlike($log, qr/terminated by signal/, "$what: no process was terminated by a signal")
	  or diag(join "\n", grep { /signal|PANIC|FATAL|ERROR/ } split /\n/, $log);
	unlike($log, qr/background worker "webhook worker" \(PID \d+\) exited/,
		"$what: the worker never exited")
	  or diag(join "\n", grep { /exited|FATAL|ERROR/ } split /\n/, $log);
}

# The queue, for a failure's diagnostics.
sub show_queue
{
	my ($node, $db) = @_;
	diag(try_query($node, $db, q{
		SELECT string_agg(format('%s %s/%s attempts %s: %s', q.id, h.name, q.status, q.attempts,
		                         q.last_error), E'\n' ORDER BY q.id)
		  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id}));
}

# Markers received on a path.
sub markers
{
	my ($path) = @_;
	my @m;
	for my $req (WebhookTest::received($receiver))
	{
		next unless $req->{path} eq $path;
		my $ev = eval { JSON::PP::decode_json($req->{body}) };
		push @m, $ev && $ev->{data}{new} ? $ev->{data}{new}{marker} // '?' : '?';
	}
	return join ',', sort @m;
}

# ---------------------------------------------------------------------
# 1. Forged queue rows whose body comes out NULL
# ---------------------------------------------------------------------
{
	my $node = WebhookTest::start_node('poison_row');
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION webhook;
		CREATE TABLE a (marker text);
		CREATE TABLE b (marker text);
		CREATE TABLE c (marker text);
		SELECT webhook.register('plain', '$url/ok/plain', 'a');
		SELECT webhook.register('other', '$url/ok/other', 'b');
		SELECT webhook.register('ordered', '$url/ok/ordered', 'c', fifo => true);
	});
	my $pid = running_worker($node);
	my $offset = -s $node->logfile;

	# an unknown operation, and a timestamp with no text form
	my ($forged, $null) = split /\|/, $node->safe_psql('postgres', q{
		BEGIN;
		INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at, new_row)
		SELECT webhook._delivery_id(e.n, 0), e.n, h.id, v.op, 'public', v.tbl, v.at,
		       '{"marker":"forged"}'
		  FROM (VALUES ('plain', 'X'::"char", 'a', now()),
		               ('ordered', 'I'::"char", 'c', 'infinity'::timestamptz)) v(hook, op, tbl, at)
		  JOIN webhook.hook h ON h.name = v.hook
		 CROSS JOIN LATERAL (SELECT pg_catalog.nextval('webhook.event_id_seq') + 0 * h.id AS n) e;
		SELECT string_agg(q.id::text, ',' ORDER BY q.id) || '|' || bool_and(webhook._body(q, h.name) IS NULL)
		  FROM webhook.queue q JOIN webhook.hook h ON h.id = q.hook_id
		 WHERE q.status = 'p';  -- only the forged rows so far
		INSERT INTO b VALUES ('b-before');
		COMMIT;
	});
	like($forged, qr/^\d+,\d+$/, 'two forged rows are queued');
	is($null, 'true', 'whose bodies come out NULL');
	ok( run_sql($node, 'postgres', q{
			INSERT INTO a VALUES ('a-after');
			INSERT INTO b VALUES ('b-after');
			INSERT INTO c VALUES ('c-after');
		}, 10),
		'ordinary events are committed after them');

	ok( wait_for($node, 'postgres',
			"SELECT count(*) = 2 AND bool_and(status = 'f') FROM webhook.queued WHERE id IN ($forged)", 15),
		'the forged rows end failed');
	is( try_query($node, 'postgres',
			"SELECT count(*) FROM webhook.queued WHERE id IN ($forged) AND coalesce(last_error, '') <> ''"),
		'2', 'each with a reason');
	note('reasons: ' . try_query($node, 'postgres',
			"SELECT string_agg(coalesce(last_error, '(null)'), ' | ') FROM webhook.queued WHERE id IN ($forged)"));
	ok( wait_for($node, 'postgres', qq{
			SELECT count(*) = 4 AND bool_and(status = 'd') FROM webhook.queued
			 WHERE id NOT IN ($forged)}, 10),
		'the events committed around them, on the same webhooks and another, are delivered');
	is(markers('/ok/plain'), 'a-after', 'the plain webhook received its ordinary event only');
	is(markers('/ok/other'), 'b-after,b-before', 'the other webhook received both of its events');
	is(markers('/ok/ordered'), 'c-after', 'the fifo webhook received the event after the poison one');
	no_crash($node, $offset, $pid, 'forged rows');
	$node->stop('immediate');
}

# ---------------------------------------------------------------------
# 2. Webhooks whose stored headers or secret were corrupted
# ---------------------------------------------------------------------
{
	my $node = WebhookTest::start_node('bad_hook');
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION webhook;
		CREATE TABLE g (marker text);
		CREATE TABLE h (marker text);
		CREATE TABLE s (marker text);
		SELECT webhook.register('good', '$url/ok/good', 'g');
		SELECT webhook.register('badheaders', '$url/ok/badheaders', 'h');
		SELECT webhook.register('badsecret', '$url/ok/badsecret', 's');
		UPDATE webhook.hook SET headers = '[1]'::jsonb WHERE name = 'badheaders';
		UPDATE webhook.hook SET secret = '!!!' WHERE name = 'badsecret';
	});
	my $pid = running_worker($node);
	my $offset = -s $node->logfile;
	my $hook = sub {
		my ($name, $cond) = @_;
		return "SELECT $cond FROM webhook.queued q JOIN webhook.hook w ON w.id = q.hook_id"
		  . " WHERE w.name = '$name'";
	};

	$node->safe_psql('postgres', q{
		BEGIN;
		INSERT INTO g VALUES ('before');
		INSERT INTO h VALUES ('h1'), ('h2');
		INSERT INTO s VALUES ('s1');
		COMMIT;
	});
	$node->safe_psql('postgres', "INSERT INTO g VALUES ('after')");
	ok( wait_for($node, 'postgres',
			$hook->('good', "count(*) = 2 AND bool_and(q.status = 'd')"), 10),
		'a healthy webhook delivers events committed with and after the bad ones');

	ok( wait_for($node, 'postgres',
			$hook->('badheaders', "count(*) = 2 AND bool_and(q.status = 'f')"), 15),
		'events of a webhook with corrupted headers end failed');
	my $err = try_query($node, 'postgres', $hook->('badheaders', 'min(q.last_error)'));
	like($err, qr/header|non-object/i, 'with a reason naming the problem');
	note("reason: $err");
	ok( wait_for($node, 'postgres',
			$hook->('badsecret', "count(*) = 1 AND bool_and(q.status = 'f')"), 15),
		'events of a webhook with a malformed secret end failed');
	$err = try_query($node, 'postgres', $hook->('badsecret', 'min(q.last_error)'));
	like($err, qr/secret/i, 'with a reason naming the problem');
	note("reason: $err");

	# and they keep failing alone
	$node->safe_psql('postgres', q{
		INSERT INTO h VALUES ('h3');
		INSERT INTO g VALUES ('later');
	});
	ok( wait_for($node, 'postgres',
			$hook->('good', "count(*) = 3 AND bool_and(q.status = 'd')"), 10),
		'a later event of the healthy webhook is delivered too');
	ok( wait_for($node, 'postgres',
			$hook->('badheaders', "count(*) = 3 AND bool_and(q.status = 'f')"), 15),
		'a later event of the corrupted webhook fails too');
	# the last event claimed fails too, with nothing else to wake the worker
	$node->safe_psql('postgres', "INSERT INTO s VALUES ('s2')");
	ok( wait_for($node, 'postgres',
			$hook->('badsecret', "count(*) = 2 AND bool_and(q.status = 'f')"), 10),
		'a lone event of the webhook with a malformed secret ends failed')
	  or show_queue($node, 'postgres');
	is(markers('/ok/good'), 'after,before,later', 'the healthy webhook received all three');
	is(markers('/ok/badheaders') . markers('/ok/badsecret'), '',
		'nothing of the corrupted webhooks was sent');
	no_crash($node, $offset, $pid, 'corrupted webhooks');
	$node->stop('immediate');
}

# ---------------------------------------------------------------------
# 3. A database whose encoding has no conversion to UTF-8
#
# MULE_INTERNAL has no conversion to or from UTF-8 at all.  So the body
# cannot be converted; and with lc_time a UTF-8 locale, even to_char() of the
# body's timestamp fails there (it converts the locale's month and day names
# to the server encoding), inside the claim query.
# ---------------------------------------------------------------------
{
	my $node = WebhookTest::start_node('mule', "lc_time = 'C'\n");
	$node->safe_psql('postgres', q{
		CREATE DATABASE m ENCODING 'MULE_INTERNAL' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0
	});
	is($node->safe_psql('m', q{
			SELECT count(*) FROM pg_conversion
			 WHERE pg_char_to_encoding('UTF8') IN (conforencoding, contoencoding)
			   AND pg_char_to_encoding('MULE_INTERNAL') IN (conforencoding, contoencoding)}),
		'0', 'MULE_INTERNAL has no conversion to or from UTF-8');
	$node->safe_psql('m', qq{
		CREATE EXTENSION webhook;
		CREATE TABLE t (marker text);
		SELECT webhook.register('mule', '$url/ok/mule', 't');
	});
	# no setting names the database: the launcher starts its worker
	my $pid = running_worker($node, 'm');
	my $offset = -s $node->logfile;
	like(slurp_file($node->logfile), qr/webhook worker started for database "m"/,
		'the worker serves the MULE_INTERNAL database');

	# lc_time = 'C': the body is built, and cannot be converted
	$node->safe_psql('m', q{
		INSERT INTO t VALUES ('m1');
		INSERT INTO t VALUES ('m2');
	});
	ok( wait_for($node, 'm',
			"SELECT count(*) = 2 AND bool_and(status = 'f') FROM webhook.queued", 15),
		'its events end failed')
	  or show_queue($node, 'm');
	my $err = try_query($node, 'm', 'SELECT min(last_error) FROM webhook.queued');
	like($err, qr/cannot be converted to UTF-8/, 'because they cannot be converted to UTF-8');
	note("reason: $err");

	# lc_time a UTF-8 locale: building the body fails in the claim query
	my ($utf8_time) = grep {
		my $l = $_;
		($node->psql('m', "SET lc_time = '$l'"))[0] == 0
	} ('C.UTF-8', 'C.utf8', 'en_US.UTF-8', 'en_US.utf8');
  SKIP:
	{
		skip 'no UTF-8 locale for lc_time', 3 unless $utf8_time;
		$node->append_conf('postgresql.conf', "lc_time = '$utf8_time'\n");
		$node->reload;
		# new sessions see it once the postmaster has signalled the worker
		wait_for($node, 'm', "SELECT current_setting('lc_time') = '$utf8_time'", 10)
		  or die 'the reload was never seen';
		$node->safe_psql('m', "INSERT INTO t VALUES ('m3')");
		ok( wait_for($node, 'm',
				"SELECT count(*) = 3 AND bool_and(status = 'f') FROM webhook.queued", 15),
			"with lc_time = '$utf8_time', its events end failed too");
		$err = try_query($node, 'm', q{
			SELECT last_error FROM webhook.queued WHERE new_row->>'marker' = 'm3'});
		like($err, qr/conver/, 'with the conversion error');
		note("reason: $err");
		$node->safe_psql('m', "INSERT INTO t VALUES ('m4')");
		ok( wait_for($node, 'm',
				"SELECT count(*) = 4 AND bool_and(status = 'f') FROM webhook.queued", 15),
			'and the next one too');
	}
	is(markers('/ok/mule'), '', 'nothing was sent');
	no_crash($node, $offset, $pid, 'MULE_INTERNAL database');
	$node->stop;
}

WebhookTest::stop_receiver($receiver);
done_testing();
