#!/bin/bash
# Healthy when both replication threads run and the replica is less than
# 30 s behind the primary.
# Runs outside the entrypoint, so it reads the root password's secret itself.
set -euo pipefail
status=$(MYSQL_PWD="$(<"$MYSQL_ROOT_PASSWORD_FILE")" mysql -h 127.0.0.1 -uroot -e 'SHOW REPLICA STATUS\G')
grep -q 'Replica_IO_Running: Yes' <<<"$status"
grep -q 'Replica_SQL_Running: Yes' <<<"$status"
lag=$(awk '/Seconds_Behind_Source:/ {print $2}' <<<"$status")
[[ $lag =~ ^[0-9]+$ ]] && ((lag < 30))
