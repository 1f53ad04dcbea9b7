#!/bin/sh
# Runs its arguments (patroni, or patronictl for db-cluster.ts) with Patroni's passwords
# exported from the secret files: never in compose `environment:` (docker inspect shows it)
# nor on a command line (ps). Patroni removes them from its own environment once read,
# so PostgreSQL and archive_command never inherit them.
set -eu
secrets=${HEALTHMATE_SECRETS_DIR:-/run/secrets}

secret() {
  [ -r "$secrets/$1" ] || { echo "run.sh: $secrets/$1 is missing or unreadable" >&2; exit 1; }
  cat -- "$secrets/$1"
}

PATRONI_SUPERUSER_PASSWORD=$(secret postgres_password)
PATRONI_REPLICATION_PASSWORD=$(secret postgres_replication_password)
PATRONI_REWIND_PASSWORD=$(secret postgres_rewind_password)
PATRONI_RESTAPI_PASSWORD=$(secret cluster_api_password)
export PATRONI_SUPERUSER_PASSWORD PATRONI_REPLICATION_PASSWORD PATRONI_REWIND_PASSWORD PATRONI_RESTAPI_PASSWORD
exec "$@"
