#!/bin/sh
# Run by Patroni once, on the member that creates the cluster, with the superuser's
# connection string as $1 (what postgres/initdb/ did for the single PostgreSQL):
# the application database, owned by the superuser POSTGRES_USER, and the extension
# behind the slow-query view (docs/troubleshooting.md; the library is preloaded).
set -eu
psql -X -q -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
CREATE DATABASE "@@POSTGRES_DB@@";
\connect "@@POSTGRES_DB@@"
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
