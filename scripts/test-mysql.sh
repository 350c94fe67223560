#!/usr/bin/env bash
# Usage: scripts/test-mysql.sh CMD [ARGS...]
#
# Runs CMD with MARQUEE_TEST_MYSQL_DSN exported (a mysql:// URL of an account
# that may create and drop databases), found in this order:
#
#   1. MARQUEE_TEST_MYSQL_DSN already set: used as is.
#   2. a mariadbd or mysqld binary on PATH or in /usr/sbin: one throw-away
#      server for this invocation only, in a temporary directory, listening on
#      127.0.0.1 on a free high port. It is stopped and its directory deleted
#      when the script exits, whatever CMD's exit status.
#   3. neither: CMD runs without the variable (the Go tests then try Docker,
#      else skip the MySQL tests, or fail them under CI=true).
#
# Exits with CMD's status. Safe to run several times at once: every invocation
# has its own directory, socket and port.
set -euo pipefail

log() { printf 'test-mysql: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [[ -n "${MARQUEE_TEST_MYSQL_DSN:-}" ]]; then
	log "using MARQUEE_TEST_MYSQL_DSN from the environment"
	exec "$@"
fi

# find_tool NAME... prints the path of the first NAME found on PATH, in
# /usr/sbin or /usr/bin.
find_tool() {
	local name dir
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/bin; do
			if [[ -x "$dir/$name" ]]; then
				echo "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

if ! server=$(find_tool mariadbd mysqld); then
	log "WARNING: MARQUEE_TEST_MYSQL_DSN is unset and no mariadbd/mysqld is installed:"
	log "WARNING: the MySQL tests will use Docker where an engine answers, else be SKIPPED (FAIL under CI=true)"
	exec "$@"
fi
client=$(find_tool mariadb mysql) || die "found $server but no mariadb/mysql client to set it up"

server_version=$("$server" --no-defaults --version)
if [[ $server_version == *MariaDB* ]]; then
	flavour=mariadb
	install_db=$(find_tool mariadb-install-db mysql_install_db) ||
		die "found $server but no mariadb-install-db to initialise a data directory"
else
	flavour=mysql
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/marquee-mysql.XXXXXX")
datadir=$tmp/data
socket=$tmp/mysqld.sock
pidfile=$tmp/mysqld.pid
errlog=$tmp/error.log
server_pid=

cleanup() {
	local status=$?
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# A clean shutdown of this small server takes well under a second.
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

user_opts=()
if [[ $(id -u) -eq 0 ]]; then
	# mariadbd and mysqld refuse to run as root unless told to.
	user_opts=(--user=root)
fi

started=$EPOCHREALTIME
mkdir -p "$tmp/files"
case $flavour in
mariadb)
	# root@localhost authenticates with unix_socket: only the OS user running
	# this script can log in as it, through the socket, without a password.
	"$install_db" --no-defaults --datadir="$datadir" "${user_opts[@]}" \
		--auth-root-authentication-method=socket --auth-root-socket-user="$(id -un)" \
		--skip-test-db --skip-name-resolve >"$tmp/init.log" 2>&1 ||
		{ cat "$tmp/init.log" >&2; die "mariadb-install-db failed"; }
	admin_user=$(id -un)
	;;
mysql)
	# --initialize-insecure: root@localhost without a password, reachable
	# only through the socket of this throw-away server until it is gone.
	"$server" --no-defaults --initialize-insecure --datadir="$datadir" "${user_opts[@]}" \
		--log-error="$tmp/init.log" >/dev/null 2>&1 ||
		{ cat "$tmp/init.log" >&2; die "mysqld --initialize-insecure failed"; }
	admin_user=root
	;;
esac

# MySQL 8's default sql_mode, so MariaDB is as strict as production.
sql_mode=ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION
server_opts=(
	--no-defaults
	--datadir="$datadir"
	--socket="$socket"
	--pid-file="$pidfile"
	--log-error="$errlog"
	--secure-file-priv="$tmp/files"
	--bind-address=127.0.0.1
	--skip-name-resolve
	--character-set-server=utf8mb4
	--collation-server=utf8mb4_bin
	--sql-mode="$sql_mode"
	--default-time-zone=+00:00
	--skip-log-bin
	--performance-schema=OFF
	--innodb-buffer-pool-size=256M
	# Test suites open a pool of connections per test database.
	--max-connections=500
	"${user_opts[@]}"
)
if [[ $flavour == mysql ]]; then
	# The X Protocol listener would take port 33060 and a fixed socket.
	server_opts+=(--mysqlx=OFF)
fi

sql() {
	"$client" --no-defaults --protocol=SOCKET --socket="$socket" --user="$admin_user" \
		--batch --skip-column-names "$@"
}

port_in_use() {
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# Try ports upward from a random point above 33306, so that concurrent
# invocations rarely race for the same port; a server that lost the race for
# its port anyway exits at once, and the next port is tried.
port=$((33306 + RANDOM % 1000))
ready=
for _ in $(seq 1 50); do
	port=$((port + 1))
	if port_in_use "$port"; then
		continue
	fi
	: >"$errlog"
	"$server" "${server_opts[@]}" --port="$port" </dev/null >>"$errlog" 2>&1 &
	server_pid=$!
	deadline=$((SECONDS + 60))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			wait "$server_pid" 2>/dev/null || true
			server_pid=
			break
		fi
		if sql -e 'SELECT 1' >/dev/null 2>&1; then
			ready=1
			break
		fi
		sleep 0.2
	done
	if [[ -n $ready ]]; then
		break
	fi
	if [[ -z $server_pid ]] && grep -qiE 'address already in use|errno: 98' "$errlog"; then
		continue
	fi
	cat "$errlog" >&2
	if [[ -n $server_pid ]]; then
		die "$server did not answer on $socket within 60 s (its error log is above)"
	fi
	die "$server exited during start-up (its error log is above)"
done
[[ -n $ready ]] || die "found no free port for $server between 33307 and $port"

password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
sql <<SQL
CREATE USER 'marquee'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER 'marquee'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'marquee'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'marquee'@'localhost' WITH GRANT OPTION;
SQL

version=$(sql -e 'SELECT VERSION()')
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "throw-away server $version on 127.0.0.1:$port (pid $server_pid, $tmp), ready in ${elapsed}s:" \
	"utf8mb4_bin, MySQL 8 sql_mode, innodb_buffer_pool_size=256M, InnoDB durability defaults" \
	"(innodb_flush_log_at_trx_commit=1), no binary log"

export MARQUEE_TEST_MYSQL_DSN="mysql://marquee:$password@127.0.0.1:$port/mysql"
status=0
"$@" || status=$?
exit "$status"
