#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on localhost, installing and starting
# them from Debian's packages when they do not (a fresh CI machine). On a
# development machine where both already run, this does nothing.
set -euo pipefail

PGPORT="${PGPORT:-5432}"
log() { printf '[services] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --install-only: make sure the binaries are there (for `peoplelinks up`, which
# runs its own embedded servers), without starting the system services.
install_only=0
[ "${1:-}" = "--install-only" ] && install_only=1

pg_up() { pg_isready -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

apt_updated=0
need_package() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ "$install_only" = 1 ]; then
  command -v pg_ctlcluster >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || need_package postgresql postgresql-contrib
  command -v redis-server >/dev/null 2>&1 || need_package redis-server
  exit 0
fi

# The browser tests (tests/e2e) drive Debian's Chromium through its ChromeDriver: no browser download at run time.
if [ "${PEOPLELINKS_NO_BROWSER:-0}" != 1 ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
  need_package chromium chromium-driver fonts-dejavu-core
fi

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null 2>&1 || need_package postgresql postgresql-contrib
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password: trust loopback only.
  if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
  pg_up || { log "PostgreSQL did not start"; exit 1; }
fi

if ! redis_up; then
  command -v redis-server >/dev/null 2>&1 || need_package redis-server
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis_up && break; sleep 0.25; done
  redis_up || { log "Redis did not start"; exit 1; }
fi
log "PostgreSQL and Redis are up"
