#!/bin/sh
# Like the official entrypoint: run /docker-entrypoint.d/*.sh before nginx.
set -eu
if [ "${1:-}" = nginx ]; then
	for f in /docker-entrypoint.d/*.sh; do
		[ -x "$f" ] && "$f"
	done
fi
exec "$@"
