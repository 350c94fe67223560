# Sourced by the MySQL image's entrypoint on the replica's first start. The
# replica gets no MYSQL_DATABASE or MYSQL_USER of its own: the database, the
# application account and every table arrive from the primary's binary log
# (GTID auto-positioning from the first transaction), so nothing conflicts.
# The replica is then made super-read-only: only replication writes to it.
set -euo pipefail
# The password comes from a Compose secret; the image's entrypoint has
# already read MYSQL_ROOT_PASSWORD from MYSQL_ROOT_PASSWORD_FILE.
: "${MYSQL_REPLICATION_PASSWORD_FILE:?set MYSQL_REPLICATION_PASSWORD_FILE}"
MYSQL_REPLICATION_PASSWORD=$(<"$MYSQL_REPLICATION_PASSWORD_FILE")
MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql --protocol=socket -uroot <<SQL
RESET BINARY LOGS AND GTIDS;
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = 'mysql',
  SOURCE_PORT = 3306,
  SOURCE_USER = 'repl',
  SOURCE_PASSWORD = '${MYSQL_REPLICATION_PASSWORD}',
  SOURCE_AUTO_POSITION = 1,
  SOURCE_CONNECT_RETRY = 5,
  GET_SOURCE_PUBLIC_KEY = 1;
START REPLICA;
SET PERSIST super_read_only = ON;
SQL
