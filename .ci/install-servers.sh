#!/usr/bin/env bash
# Installs the servers deadbolt's distributed-driver tests run against (Debian bookworm):
# etcd, Redis, ZooKeeper (with a Java runtime), the oslo.concurrency peer, procps, tmux (the terminal
# tests: test/cli/tty.test.ts, backend-errors.test.ts) and Chromium (the browser tests of `deadbolt serve`
# drive it through playwright-core); plus the arm64 cross compiler and qemu-user for the prebuilt
# addons (scripts/prebuild.sh, scripts/test-arm64.sh).
#
# - Installs only what is missing; when everything is present it does nothing (no apt-get
#   update, no network) and takes a fraction of a second. Safe to run repeatedly.
# - Non-interactive, and package scripts may not start services: unless /usr/sbin/policy-rc.d
#   already exists, a temporary one that exits 101 is written for the duration of the install
#   and removed afterwards. Nothing is stopped.
# - PostgreSQL 15 is expected to be installed already and is never asked of apt (asking would
#   upgrade it): the script checks that /usr/lib/postgresql/15/bin/initdb exists and fails if not.
#
# Usage: .ci/install-servers.sh      (as root, or as a user with sudo)
set -euo pipefail

PACKAGES=(etcd-server redis-server zookeeper libslf4j-java python3-oslo.concurrency procps tmux chromium)
# The other languages' clients the interop tests run against (test/interop/): etcdctl, kazoo, tooz.
PACKAGES+=(etcd-client python3-kazoo python3-tooz)
# The linux-arm64 prebuilt addon: Debian's cross compiler, and qemu-user with the arm64 glibc to test it.
PACKAGES+=(g++-aarch64-linux-gnu libc6-arm64-cross qemu-user)
PG_BIN_DIR=/usr/lib/postgresql/15/bin
POLICY=/usr/sbin/policy-rc.d

log() { printf 'install-servers: %s\n' "$*" >&2; }
die() { printf 'install-servers: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ ${EUID} -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=()
fi
as_root() {
  if [[ ${EUID} -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
    die "need root (or sudo) to run: $*"
  fi
  "${SUDO[@]}" "$@"
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian only"
# Checked before touching apt: PostgreSQL is never installed from here.
[[ -x ${PG_BIN_DIR}/initdb ]] ||
  die "${PG_BIN_DIR}/initdb not found: install PostgreSQL 15 (postgresql-15) yourself; this script never asks apt for it"

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "${pkg}" || missing+=("${pkg}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all present: ${PACKAGES[*]}"
else
  log "installing: ${missing[*]}"
  created_policy=0
  cleanup() {
    if [[ ${created_policy} -eq 1 ]]; then
      as_root rm -f "${POLICY}"
      created_policy=0
      log "removed temporary ${POLICY}"
    fi
  }
  trap cleanup EXIT
  if [[ ! -e ${POLICY} ]]; then
    # Keep package scripts from starting etcd/redis/zookeeper services.
    printf '#!/bin/sh\n# temporary, written by deadbolt .ci/install-servers.sh\nexit 101\n' | as_root tee "${POLICY}" >/dev/null
    as_root chmod 755 "${POLICY}"
    created_policy=1
    log "wrote temporary ${POLICY} (exit 101)"
  else
    log "${POLICY} already exists; leaving it as it is"
  fi
  apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
  cleanup
  trap - EXIT
  for pkg in "${missing[@]}"; do
    installed "${pkg}" || die "${pkg} is still not installed after apt-get install"
  done
fi

# What the test harness (test/harness/*.ts) actually runs.
problems=()
need_file() { [[ -e $1 ]] || problems+=("$1 missing ($2)"); }
need_cmd() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]] || problems+=("$1 not found ($2)"); }
need_cmd etcd etcd-server
need_cmd redis-server redis-server
need_cmd java "zookeeper's Java runtime"
need_file /usr/share/java/zookeeper.jar libzookeeper-java
need_file /usr/share/java/slf4j-simple.jar libslf4j-java
need_cmd setpriv util-linux
need_cmd runuser util-linux
need_cmd ps procps
need_cmd tmux tmux
need_file /usr/bin/chromium "chromium: the browser tests of deadbolt serve"
need_file "${PG_BIN_DIR}/initdb" "PostgreSQL 15 server: install postgresql-15 yourself; this script never asks apt for it"
need_file "${PG_BIN_DIR}/postgres" "PostgreSQL 15 server"
need_cmd psql "PostgreSQL client"
need_cmd aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
need_cmd qemu-aarch64 qemu-user
need_file /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 libc6-arm64-cross
if [[ ${EUID} -eq 0 ]] && ! getent passwd postgres >/dev/null; then
  problems+=("no postgres user (the harness runs PostgreSQL as it when root)")
fi

if [[ ${#problems[@]} -gt 0 ]]; then
  for p in "${problems[@]}"; do printf 'install-servers: ERROR: %s\n' "${p}" >&2; done
  exit 1
fi
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
log "ready: etcd-server $(ver etcd-server), redis-server $(ver redis-server), zookeeper $(ver zookeeper), PostgreSQL $("${PG_BIN_DIR}/postgres" --version | awk '{print $3}')"
