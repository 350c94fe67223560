# Sourced by the MySQL image's entrypoint on the primary's first start, after
# it created MYSQL_DATABASE and MYSQL_USER. The replica connects as `repl`,
# which may only stream the binary log. The application's account may read
# the replica's status (SHOW REPLICA STATUS), which is how `marquee api`
# measures the replica's lag; the grant replicates with everything else.
set -euo pipefail
# The password comes from a Compose secret; the image's entrypoint has
# already read MYSQL_ROOT_PASSWORD from MYSQL_ROOT_PASSWORD_FILE.
: "${MYSQL_REPLICATION_PASSWORD_FILE:?set MYSQL_REPLICATION_PASSWORD_FILE}"
MYSQL_REPLICATION_PASSWORD=$(<"$MYSQL_REPLICATION_PASSWORD_FILE")
MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '${MYSQL_REPLICATION_PASSWORD}';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
GRANT REPLICATION CLIENT ON *.* TO '${MYSQL_USER}'@'%';
SQL
