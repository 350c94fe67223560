#!/bin/bash
# Healthy when both replication threads run and the replica is less than
# 30 s behind the primary.
set -euo pipefail
status=$(MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -e 'SHOW REPLICA STATUS\G')
grep -q 'Replica_IO_Running: Yes' <<<"$status"
grep -q 'Replica_SQL_Running: Yes' <<<"$status"
lag=$(awk '/Seconds_Behind_Source:/ {print $2}' <<<"$status")
[[ $lag =~ ^[0-9]+$ ]] && ((lag < 30))
