#!/bin/sh
# The official redis entrypoint: options or a .conf as first argument mean
# redis-server; redis-server runs as the redis user with umask 0077.
set -eu
case "${1:-}" in
	-*|*.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
