#!/bin/sh
# Runs inside the debootstrapped root (chroot) before `docker import`.
# Gives the stand-ins the users, paths and binaries the official images have.
set -eu

# The package's default cluster and started services are not wanted: each
# stand-in initialises or starts what it needs from its entrypoint.
rm -rf /var/lib/postgresql/15/main /etc/postgresql/15/main

# Users of the official images (uids matter: secret files are chowned to them).
# Debian gave its daemon users low uids that collide with those (nginx is 101
# upstream); move them aside here, the per-service images set the official uid.
for user in prometheus redis postgres etcd haproxy; do
  if getent passwd "$user" >/dev/null && [ "$(id -u "$user")" -lt 1000 ]; then
    usermod --uid "$((2000 + $(id -u "$user")))" "$user"
  fi
done
getent passwd nginx >/dev/null || useradd --system --uid 101 --user-group --no-create-home --home-dir /var/cache/nginx --shell /usr/sbin/nologin nginx
getent passwd grafana >/dev/null || useradd --system --uid 472 --gid 0 --no-create-home --home-dir /usr/share/grafana --shell /usr/sbin/nologin grafana
getent passwd app >/dev/null || useradd --uid 1000 --user-group --create-home --home-dir /app --shell /bin/sh app

# Binary paths the official images' entrypoints and our compose commands use.
ln -sf /usr/bin/prometheus-alertmanager /usr/bin/alertmanager
ln -sf /usr/bin/prometheus-node-exporter /usr/bin/node_exporter
ln -sf /usr/bin/prometheus-postgres-exporter /usr/bin/postgres_exporter
ln -sf /usr/bin/prometheus-redis-exporter /usr/bin/redis_exporter
ln -sf /usr/bin/prometheus-redis-exporter /redis_exporter
ln -sf /usr/bin/prometheus-nginx-exporter /usr/bin/nginx-prometheus-exporter
ln -sf /usr/bin/prometheus-blackbox-exporter /usr/bin/blackbox_exporter
# quay.io/coreos/etcd keeps etcd and etcdctl in /usr/local/bin; the official haproxy image its
# binary in /usr/local/sbin and its config folder in /usr/local/etc/haproxy.
ln -sf /usr/bin/etcd /usr/local/bin/etcd
ln -sf /usr/bin/etcdctl /usr/local/bin/etcdctl
ln -sf /usr/sbin/haproxy /usr/local/sbin/haproxy
mkdir -p /usr/local/etc/haproxy

# Like the official nginx image: logs go to the container's stdout/stderr.
mkdir -p /var/cache/nginx /var/log/nginx
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log

# Smaller image, faster import.
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /var/cache/debconf/*-old
