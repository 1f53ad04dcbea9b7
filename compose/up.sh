#!/bin/sh
# Brings this bundle up on a host that has only sh, coreutils and Docker: no Node, no repo.
#   scp -r dist/prod host:/opt/healthmate && ssh host /opt/healthmate/up.sh
# The scripted deploy (deploy-prod.ts) adds what this does not: a rolling update with zero
# downtime, automatic rollback, the deploy lock, the pre-migration backup and the audit log.
#
# Plain POSIX sh on purpose (dash, busybox): `shellcheck -s sh` is clean, and it reads only
# files render.ts wrote beside it: SHA256SUMS, secret-owners.txt and host-setup.txt.
set -eu
# Word splitting is used for lists and the migration command; globbing never.
set -f

usage() {
  cat <<'EOF'
Usage: up.sh [--dry-run] [--timeout SECONDS]

Brings the rendered bundle in this folder up with Docker Compose, in four steps:
  1. verify the copy: sha256sum -c SHA256SUMS, and no file that SHA256SUMS does not list
  2. give each secret file to the uid of the service that reads it (secret-owners.txt)
  3. create the state folders and mount points the stack needs (host-setup.txt)
  4. start the datastores (etcd, PostgreSQL under Patroni, HAProxy, redis), run the
     migrations, start the rest, wait until every container is running and healthy,
     reload nginx, Prometheus, Alertmanager and the blackbox exporter (SIGHUP: configs
     copied over a running stack), print what is up

Options:
  --dry-run          check everything, then print the steps; change nothing
  --timeout SECONDS  how long to wait for health at each wait (default 300)
  -h, --help         this text

Environment: DOCKER_HOST (the engine), HEALTHMATE_ENGINE_TIMEOUT (seconds each question
to the engine may take, default 30).

Runs as root (secret files belong to the service uids). Idempotent: run it again after a
change. Exit 0 when up and healthy, 1 when an operation failed, 2 when refused (nothing changed).
What it does not do (use scripts/deploy-prod.ts for those): rolling update, rollback, deploy
lock, backup before migrations, audit log.
EOF
}

refuse() {
  printf 'up.sh: %s\n' "$1" >&2
  exit 2
}
fail() {
  printf 'up.sh: %s\n' "$1" >&2
  exit 1
}
say() { printf '%s\n' "$1" >&2; }

dry_run=0
timeout=300
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --timeout)
      [ $# -ge 2 ] || refuse '--timeout needs a number of seconds, e.g. --timeout 300.'
      timeout=$2
      shift
      ;;
    --timeout=*) timeout=${1#--timeout=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) refuse "unknown option $1; see up.sh --help." ;;
  esac
  shift
done
case $timeout in
  '' | *[!0-9]*) refuse "--timeout $timeout is not a whole number of seconds." ;;
esac

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
cd "$here"
for file in SHA256SUMS secret-owners.txt host-setup.txt docker-compose.yml; do
  [ -f "$file" ] || refuse "$here/$file is missing: copy the whole rendered bundle (scp -r dist/<env> host:$here)."
done

# ---- what render wrote: host-setup.txt and secret-owners.txt ----
project='' services='' datastores='' migration='' reload='' state_dirs='' mountpoints='' required=''
while read -r kind rest; do
  case $kind in
    project) project=$rest ;;
    service) services="$services $rest" ;;
    datastore) datastores="$datastores $rest" ;;
    migrate) migration=$rest ;;
    reload) reload="$reload $rest" ;;
    state-dir) state_dirs="$state_dirs $rest" ;;
    mountpoint) mountpoints="$mountpoints $rest" ;;
    require) required="$required $rest" ;;
  esac
done <host-setup.txt
if [ -z "$project" ] || [ -z "$services" ]; then
  refuse "$here/host-setup.txt names no project or services: render the bundle again."
fi

# ---- step 1 checks: the copy ----
if ! report=$(sha256sum -c SHA256SUMS 2>&1); then
  printf '%s\n' "$report" | while IFS= read -r line; do
    case $line in *': OK') ;; *) printf '  %s\n' "$line" >&2 ;; esac
  done
  refuse "the copy in $here does not match its SHA256SUMS (files above): copy dist/<env> again, whole."
fi
# SHA256SUMS read line by line: each line is `<sha256>  <file>` (as render writes it), a file
# name is the rest of its line, whole. A line of another form is refused, not skipped.
nl='
'
hex64='' digits=0
while [ "$digits" -lt 64 ]; do
  hex64="${hex64}[0-9a-f]"
  digits=$((digits + 1))
done
listed=$nl
checked=0
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    $hex64'  '?*) ;;
    *) refuse "$here/SHA256SUMS line $((checked + 1)) is not \"<sha256>  <file>\": copy dist/<env> again, whole." ;;
  esac
  listed="$listed${line#*  }$nl"
  checked=$((checked + 1))
done <SHA256SUMS
# A file SHA256SUMS does not list was not rendered, yet Prometheus or nginx would load it: every
# name counts (dot files, `..x`, spaces), compared whole. secrets/ is not listed (its hashes would
# give weak secrets away); compose reads only the secret files docker-compose.yml names.
unlisted=''
note_unlisted() {
  case $1 in
    *"$nl"*) refuse "a file name with a line break is in $here (it starts \"${1%%"$nl"*}\"); remove it, or copy dist/<env> again into an empty folder." ;;
  esac
  case $listed in
    *"$nl$1$nl"*) ;;
    *) [ "$1" = SHA256SUMS ] || unlisted="$unlisted '$1'" ;;
  esac
}
# Every entry below $1 but . and ..; a symbolic link is a file here (never followed).
walk() {
  for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    if [ -d "$entry" ] && [ ! -L "$entry" ]; then
      [ "$entry" = ./secrets ] || walk "$entry"
    else
      note_unlisted "${entry#./}"
    fi
  done
}
set +f
walk .
set -f
[ -z "$unlisted" ] || refuse "files not in SHA256SUMS are in $here:$unlisted; remove them or copy dist/<env> again into an empty folder."

# ---- checks before anything changes: secrets, root, Docker, certificates ----
me=$(id -u)
need_root=''
# Adds a uid other than ours to need_root, once.
needs_uid() {
  [ "$1" != "$me" ] || return 0
  case "$need_root " in *" $1 "*) ;; *) need_root="$need_root $1" ;; esac
}
while read -r uid _ _; do
  case $uid in '#'* | '') continue ;; esac
  needs_uid "$uid"
done <secret-owners.txt
for dir in $state_dirs; do
  case $dir in -* | /*) ;; *) needs_uid "$dir" ;; esac
done
[ -z "$need_root" ] || [ "$me" = 0 ] ||
  refuse "up.sh must run as root: secret files and state folders must belong to uids$need_root (secret-owners.txt, host-setup.txt); run it with sudo."
while read -r uid _ path; do
  case $uid in '#'* | '') continue ;; esac
  [ -f "$path" ] || refuse "$here/$path is missing: copy the secrets/ folder too (scp -r keeps it)."
done <secret-owners.txt

command -v timeout >/dev/null 2>&1 ||
  refuse 'timeout is not installed (it comes with coreutils): install coreutils.'
command -v docker >/dev/null 2>&1 ||
  refuse 'Docker is not installed (no docker on PATH): install Docker Engine with the compose plugin, or docker-compose.'
if docker compose version >/dev/null 2>&1; then
  compose_cmd='docker compose'
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd='docker-compose'
else
  refuse 'neither "docker compose" nor docker-compose is installed: install the Docker compose plugin.'
fi
compose() {
  if [ "$compose_cmd" = docker-compose ]; then
    docker-compose -p "$project" -f "$here/docker-compose.yml" "$@"
  else
    docker compose -p "$project" -f "$here/docker-compose.yml" "$@"
  fi
}

for file in $required; do
  [ -f "$file" ] || refuse "$file is missing: put the certificates in place first (nginx: generate-certs.ts or certbot, docs/edge.md; pgBackRest: generate-certs.ts --profile pgbackrest, docs/backup-restore.md; etcd and Patroni: generate-certs.ts --profile cluster, docs/ha.md)."
done

# Each question to the engine is bounded: one that accepts and never answers must not hang up.sh.
engine_timeout=${HEALTHMATE_ENGINE_TIMEOUT:-30}
case $engine_timeout in
  '' | *[!0-9]* | 0) refuse "HEALTHMATE_ENGINE_TIMEOUT=$engine_timeout is not a whole number of seconds above 0." ;;
esac
ask_engine() { timeout "$engine_timeout" docker "$@"; }
engine_status=0
ask_engine version >/dev/null 2>&1 || engine_status=$?
if [ "$engine_status" = 124 ]; then
  fail "the Docker engine at ${DOCKER_HOST:-the local socket} did not answer docker version within ${engine_timeout}s: check that it runs, or fix DOCKER_HOST."
elif [ "$engine_status" != 0 ]; then
  [ "$dry_run" = 1 ] || fail "the Docker engine at ${DOCKER_HOST:-the local socket} cannot be reached: start Docker, or fix DOCKER_HOST."
  say "up.sh: warning: the Docker engine at ${DOCKER_HOST:-the local socket} cannot be reached (a real run stops here)."
fi

# ---- the steps ----
# Prints a command, then runs it unless --dry-run.
act() {
  if [ "$1" = compose ]; then
    shift
    printf >&3 '     %s -p %s -f %s %s\n' "$compose_cmd" "$project" "$here/docker-compose.yml" "$*"
    [ "$dry_run" = 1 ] || compose "$@"
  else
    printf >&3 '     %s\n' "$*"
    [ "$dry_run" = 1 ] || "$@"
  fi
}

# Waits until every container of the named services runs and is healthy (or has no healthcheck).
wait_healthy() {
  deadline=$(($(date +%s) + timeout))
  printf >&3 '     # wait until every container of%s is running and healthy (at most %ss)\n' "$1" "$timeout"
  [ "$dry_run" = 0 ] || return 0
  rounds=0
  while :; do
    pending=''
    for service in $1; do
      ids=$(ask_engine ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service")
      [ -n "$ids" ] || pending="$pending $service(no container)"
      for id in $ids; do
        state=$(ask_engine inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}' "$id" 2>/dev/null || echo gone)
        case $state in
          running/healthy | running/no-healthcheck) ;;
          *) pending="$pending $service($state)" ;;
        esac
      done
    done
    [ -n "$pending" ] || return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after ${timeout}s:$pending; see docker logs of those containers."
    rounds=$((rounds + 1))
    [ $((rounds % 5)) -ne 0 ] || say "     waiting for:$pending"
    sleep 2
  done
}

# The steps are the result of a dry run (stdout) and progress of a real run (stderr).
if [ "$dry_run" = 1 ]; then
  exec 3>&1
  mode_label='[dry run: nothing changed]'
else
  exec 3>&2
  mode_label=''
fi
printf >&3 'up.sh: bundle %s, compose project %s %s\n' "$here" "$project" "$mode_label"

printf >&3 '1. verify the copy\n'
printf >&3 '     sha256sum -c SHA256SUMS  # %s files OK, none unlisted\n' "$checked"

printf >&3 '2. secret files owned by the uid that reads them, mode 0600\n'
act chmod 700 secrets
while read -r uid mode path; do
  case $uid in '#'* | '') continue ;; esac
  act chown "$uid" "$path"
  act chmod "$mode" "$path"
done <secret-owners.txt

printf >&3 '3. state folders and mount points\n'
# shellcheck disable=SC2086 # pairs of <owner> <path>, split into words on purpose
set -- $state_dirs
while [ $# -ge 2 ]; do
  act mkdir -p "$2"
  [ "$1" = - ] || act chown "$1" "$2"
  shift 2
done
for dir in $mountpoints; do
  act mkdir -p "$dir"
done

printf >&3 '4. start the stack and wait for health\n'
# shellcheck disable=SC2086 # the service lists and the migration command are meant to split into words
{
  act compose up -d --no-deps $datastores
  wait_healthy "$datastores"
  act compose run --rm --no-deps -T backend $migration
  act compose up -d
  wait_healthy "$services"
  # Configs copied over a running stack: their containers were not recreated, so reload them,
  # with SIGHUP to each main process from inside its container. Not `compose kill -s SIGHUP`:
  # Docker records any `docker kill` as a manual stop, and the container would then stay down
  # after a daemon restart or a reboot (e2e chaos scenario 4).
  for service in $reload; do
    act compose exec -T "$service" sh -c 'kill -HUP 1'
  done
}

if [ "$dry_run" = 1 ]; then
  printf 'dry run: nothing was changed.\n'
  exit 0
fi
printf 'up: compose project %s from %s\n' "$project" "$here"
ask_engine ps --filter "label=com.docker.compose.project=$project" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
