# ALTER EXTENSION webhook UPDATE from every earlier released version ends
# where a fresh CREATE EXTENSION of the default version does: the same
# \dx+ listing, the same pg_extension row (version, configuration tables),
# and the same pg_dump --schema-only of the extension's objects.  With one
# version (1.0) there is nothing earlier: the harness runs on 1.0 itself,
# installed, "updated" (a no-op) and compared with a fresh 1.0.
#
# pg_dump writes an extension as one CREATE EXTENSION line, not its objects,
# so each database's copy is taken out of the extension (ALTER EXTENSION
# webhook DROP, member by member) before the dump: every table, column,
# constraint, index, trigger, policy, function body, grant and comment then
# shows.  The databases are templates, which no worker serves, so nothing
# changes them between the install and the dump.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Temp ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $node = WebhookTest::start_node('upgrade');

my $default = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'webhook'");
isnt($default, '', 'webhook is installed, with a default version');

# every version that has a script, oldest first, by number (1.10 > 1.9)
my @versions = split /\n/, $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions WHERE name = 'webhook'
	ORDER BY pg_catalog.string_to_array(version, '.')::int[]});
my @earlier = grep { $_ ne $default } @versions;
@earlier = grep { vcmp($_, $default) < 0 } @earlier;
note("default version $default; earlier versions: @earlier");
@earlier = ($default) unless @earlier;

# -1, 0, 1 as version a is before, equal to, after b
sub vcmp
{
	my @a = split /\./, $_[0];
	my @b = split /\./, $_[1];
	while (@a || @b)
	{
		my $c = (shift(@a) // 0) <=> (shift(@b) // 0);
		return $c if $c;
	}
	return 0;
}

# A database (a template: no worker) with the extension made by $sql.
sub make_db
{
	my ($db, $sql) = @_;
	$node->safe_psql('postgres', qq{
		CREATE DATABASE "$db" TEMPLATE template0;
		ALTER DATABASE "$db" IS_TEMPLATE true;
	});
	$node->safe_psql($db, $sql);
}

# What a DBA sees of the extension in $db: \dx+, its pg_extension row, and
# the schema dump of its objects once they are taken out of it.
sub describe
{
	my ($db) = @_;
	my %d;
	$d{'\dx+ webhook'} = $node->safe_psql($db, '\dx+ webhook');
	$d{'pg_extension'} = $node->safe_psql($db, q{
		SELECT extversion, extrelocatable, extnamespace::regnamespace,
		       extconfig::regclass[], extcondition
		FROM pg_catalog.pg_extension WHERE extname = 'webhook'});
	$node->safe_psql($db, q{
		DO $$
		DECLARE
			member record;
		BEGIN
			FOR member IN
				SELECT CASE o.type WHEN 'composite type' THEN 'type' ELSE o.type END AS type,
				       o.identity
				FROM pg_catalog.pg_depend d,
				     pg_catalog.pg_identify_object(d.classid, d.objid, 0) o
				WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
				  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension
				                    WHERE extname = 'webhook')
				  AND d.deptype = 'e'
			LOOP
				EXECUTE pg_catalog.format('ALTER EXTENSION webhook DROP %s %s',
				                          member.type, member.identity);
			END LOOP;
		END
		$$});
	my ($out, $err);
	my $ok = IPC::Run::run(
		[ 'pg_dump', '--schema-only', '-h', $node->host, '-p', $node->port, '-d', $db ],
		'>', \$out, '2>', \$err);
	ok($ok, "pg_dump $db") or diag($err);
	# a random key each run (\restrict, pg_dump 15.14 on)
	$out =~ s/^\\(un)?restrict \S+\n//mg;
	$d{'pg_dump --schema-only'} = $out;
	return \%d;
}

# is() with a unified diff when they differ
sub same
{
	my ($got, $want, $name) = @_;
	return pass($name) if $got eq $want;
	my $dir = File::Temp->newdir();
	PostgreSQL::Test::Utils::append_to_file("$dir/fresh", $want);
	PostgreSQL::Test::Utils::append_to_file("$dir/updated", $got);
	my $diff;
	IPC::Run::run([ 'diff', '-u', "$dir/fresh", "$dir/updated" ], '>', \$diff);
	fail($name);
	diag($diff);
}

make_db('fresh', 'CREATE EXTENSION webhook');
my $fresh = describe('fresh');
like($fresh->{'pg_dump --schema-only'}, qr/CREATE TABLE webhook\./,
	'the dump of a fresh install shows the extension\'s tables');
like($fresh->{'\dx+ webhook'}, qr/function webhook\.register\(/,
	'\dx+ of a fresh install lists its functions');

for my $from (@earlier)
{
	my $db = "from_$from";
	make_db($db, qq{
		CREATE EXTENSION webhook VERSION '$from';
		ALTER EXTENSION webhook UPDATE;
	});
	is($node->safe_psql($db,
			"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'webhook'"),
		$default, "$from updated to $default");
	my $updated = describe($db);
	same($updated->{$_}, $fresh->{$_}, "$from updated to $default: $_ as a fresh install")
	  for sort keys %$fresh;
}

$node->stop;
done_testing();
