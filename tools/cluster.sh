# Shell helpers for a throwaway PostgreSQL cluster, sourced by test.sh,
# demo.sh and the benchmark.  The server runs as the postgres user (initdb
# refuses root) in a temporary directory that user owns; it listens on a
# Unix socket in that directory only.

PGBIN=$(pg_config --bindir)
SYSPY=/usr/bin/python3		# Debian's, reachable by the postgres user

# Run a command as the postgres user when we are root, else as ourselves.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PGBIN:/usr/bin:/bin" "$@"
	else
		env PATH="$PGBIN:$PATH" "$@"
	fi
}

# A fresh directory that the postgres user owns.
make_workdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/webhook-$1.XXXXXX")
	chmod 755 "$d"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$d"
	echo "$d"
}

# A TCP port nobody listens on.
free_port() {
	"$SYSPY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cluster_start DIR [extra postgresql.conf lines...]: initdb and start.
# Sets PGHOST, PGPORT, PGUSER for the callers' psql.
cluster_start() {
	local dir=$1; shift
	export PGHOST=$dir PGPORT PGUSER=postgres
	PGPORT=$(free_port)
	as_pg initdb -D "$dir/data" -U postgres --auth=trust --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "port = $PGPORT"
		echo "shared_preload_libraries = 'webhook'"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
	as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
}

cluster_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] && as_pg pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# psql as postgres against the throwaway cluster
pg() {
	as_pg psql -X -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"
}

# receiver_start DIR ARGS...: run test/receiver.py (ARGS: its arguments) as
# postgres in the background and wait until it listens; sets RECEIVER_PORT.
# Its first argument must be DIR/<portfile>.
receiver_start() {
	local dir=$1 portfile=$3
	shift
	as_pg "$SYSPY" "$@" &
	for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
	RECEIVER_PORT=$(cat "$portfile")
	[ -n "$RECEIVER_PORT" ]
}

# Stop the receiver started from DIR (runuser does not pass signals on).
receiver_stop() {
	pkill -f -- "$1/[^ ]*receiver.py" 2>/dev/null || true
}
