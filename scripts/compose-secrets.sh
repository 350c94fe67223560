#!/usr/bin/env bash
# Usage: scripts/compose-secrets.sh [DIR]      (make secrets)
#
# Makes the secret files compose.yml declares, in DIR (default ./secrets):
#
#   mysql_root_password.txt, mysql_password.txt, mysql_replication_password.txt,
#   minio_root_password.txt
#       random passwords (hex, so they need no quoting in a URL or in SQL);
#       the last is MinIO's, which the compactors and the API sign with
#   marquee_db.txt, marquee_db_replica.txt
#       the application's URLs of the primary and the replica, with
#       mysql_password.txt's password
#   marquee_api_tokens.txt
#       the MARQUEE_API_TOKENS entry of one new write token named "compose",
#       as its SHA-256 only (marquee token new); the token itself is printed
#       on stdout this once and kept nowhere
#
# A file that exists is kept: the MySQL volumes are initialised with the
# passwords of the first run, so new ones would lock the services out. Delete
# DIR and the volumes (docker compose down -v) to start afresh.
#
# DIR is made mode 0700, so other users of the host cannot read it. The files
# are mode 0644: Compose mounts them into the containers as they are, and the
# services run as non-root users that must read them.
#
# MARQUEE names the command that runs marquee (default: go run ./cmd/marquee).
set -euo pipefail

dir=${1:-secrets}
marquee=${MARQUEE:-go run ./cmd/marquee}

mkdir -p "$dir"
chmod 0700 "$dir"

# random_hex prints 24 random bytes as hex.
random_hex() {
	od -An -vtx1 -N24 /dev/urandom | tr -d ' \n'
}

# put NAME VALUE writes VALUE to DIR/NAME.txt unless that file exists.
put() {
	local file="$dir/$1.txt"
	if [[ -e "$file" ]]; then
		printf 'compose-secrets: %s exists, kept\n' "$file" >&2
		return 0
	fi
	(umask 022 && printf '%s\n' "$2" >"$file.tmp")
	mv "$file.tmp" "$file"
	printf 'compose-secrets: %s written\n' "$file" >&2
}

put mysql_root_password "$(random_hex)"
put mysql_replication_password "$(random_hex)"
put mysql_password "$(random_hex)"
put minio_root_password "$(random_hex)"
app_password=$(<"$dir/mysql_password.txt")
put marquee_db "mysql://marquee:${app_password}@mysql:3306/marquee"
put marquee_db_replica "mysql://marquee:${app_password}@mysql-replica:3306/marquee"

if [[ ! -e "$dir/marquee_api_tokens.txt" ]]; then
	token_out=$($marquee token new --name compose)
	token=$(sed -n 1p <<<"$token_out")
	entry=$(sed -n 2p <<<"$token_out")
	if [[ -z "$token" || -z "$entry" ]]; then
		echo "compose-secrets: marquee token new printed no token" >&2
		exit 1
	fi
	put marquee_api_tokens "$entry"
	printf 'The API write token (shown this once, kept nowhere):\n%s\n' "$token"
else
	printf 'compose-secrets: %s exists, kept\n' "$dir/marquee_api_tokens.txt" >&2
fi
