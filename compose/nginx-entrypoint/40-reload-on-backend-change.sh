#!/bin/sh
# nginx resolves the backend's service name only when it starts or reloads. A
# backend container restarted by its restart policy (a crash, a Docker daemon or
# host restart) can come back with another address, and nginx would keep sending
# to the old one. This loop reloads nginx when an address it resolved has gone
# from the names. It never reloads for a new address alone: the new replicas of a
# rolling update get traffic only once deploy-prod.ts has proven them healthy and
# reloaded nginx itself.
#
# The image's entrypoint runs it (/docker-entrypoint.d) before nginx starts; the
# loop stays in the background and signals the nginx master, which is PID 1.
set -eu

hosts=${NGINX_BACKEND_HOSTS:-backend}
interval=${NGINX_BACKEND_WATCH_SECONDS:-5}

addresses() {
	for host in $hosts; do
		getent ahostsv4 "$host" || true
	done | while read -r address _; do echo "$address"; done | sort -u
}

watch() {
	known=$(addresses)
	while sleep "$interval"; do
		now=$(addresses)
		# Nothing resolves (every replica is restarting): keep what nginx has.
		[ -n "$now" ] || continue
		for address in $known; do
			if ! echo "$now" | grep -qxF "$address"; then
				echo "backend address $address is gone; reloading nginx to resolve $hosts again" >&2
				kill -HUP 1
				break
			fi
		done
		known=$now
	done
}

watch </dev/null >/dev/null &
