#!/bin/bash
# The part of the official postgres entrypoint our compose files use:
# POSTGRES_USER / POSTGRES_PASSWORD[_FILE] / POSTGRES_DB / PGDATA on first start,
# /docker-entrypoint-initdb.d/*.sh|*.sql, then postgres as the postgres user.
set -Eeuo pipefail

# VAR or VAR_FILE (never both), like the official file_env.
file_env() {
	local var="$1" file_var="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
		echo >&2 "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	local val="$def"
	if [ "${!var:-}" ]; then
		val="${!var}"
	elif [ "${!file_var:-}" ]; then
		val="$(< "${!file_var}")"
	fi
	export "$var"="$val"
	unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

# Read secret files as root (they are root-owned bind mounts), then drop privileges.
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
mkdir -p "$PGDATA"
if [ "$(id -u)" = 0 ]; then
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "$POSTGRES_PASSWORD" ]; then
		echo >&2 'error: database is uninitialized and the superuser password is not specified (POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE).'
		exit 1
	fi
	# Word splitting wanted: POSTGRES_INITDB_ARGS holds several options, as in the official image.
	# shellcheck disable=SC2086
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
	printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
	# Initialise on a unix socket only, so nobody connects to a half-made database.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
	export PGPASSWORD="$POSTGRES_PASSWORD"
	psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db" ;
		SQL
	fi
	psql+=(--dbname "$POSTGRES_DB")
	for f in /docker-entrypoint-initdb.d/*; do
		# shellcheck disable=SC1090
		case "$f" in
			*.sh) if [ -x "$f" ]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
			*.sql) echo "running $f"; "${psql[@]}" -f "$f" ;;
			*.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" ;;
			*) [ -e "$f" ] && echo "ignoring $f" ;;
		esac
	done
	unset PGPASSWORD
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@" -c listen_addresses='*'
