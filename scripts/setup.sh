#!/usr/bin/env bash
# One-time set-up for a fresh machine: the Debian packages the tests run for real
# (nginx, Prometheus, PostgreSQL 15, Docker, ...), then the exact npm dependencies.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/setup.sh [--help]

One-time set-up for a fresh machine: installs the Debian packages listed in
.ci/apt-packages.txt that are missing (needs root), then runs npm ci.

Exit codes: 0 success, 1 operation failed, 2 bad usage or bad input.
EOF
}

case "${1-}" in
  -h | --help)
    usage
    exit 0
    ;;
  '') ;;
  *)
    echo "setup: unknown argument \"$1\"; run bash scripts/setup.sh --help" >&2
    exit 2
    ;;
esac
if [ "$#" -gt 1 ]; then
  echo "setup: takes no arguments besides --help" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

mapfile -t packages < <(grep -vE '^\s*(#|$)' .ci/apt-packages.txt)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  # Packages must not start system services: tests start their own instances.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
else
  echo "setup: all ${#packages[@]} Debian packages present" >&2
fi

# No dependency runs an install script (package.json allowScripts): esbuild's
# only re-checks the binary its @esbuild/<platform> optional dependency brings.
npm ci --no-audit --no-fund
