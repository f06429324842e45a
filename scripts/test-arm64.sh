#!/usr/bin/env bash
# Proves the linux-arm64 prebuild: runs the lock-directory suites on the arm64
# Node binary (.ci/install-node.sh MAJOR arm64) under qemu-user, with the
# addon taken from prebuilds/ only (PREBUILDS_ONLY: build/Release is x64).
#
# There is no binfmt_misc in a container, so an arm64 `node` cannot be exec'd
# directly: every process the tests spawn from process.execPath goes through a
# wrapper that runs it under qemu-aarch64 (set by a preload, inherited through
# NODE_OPTIONS). The kernel sees qemu's x86-64 system calls, which the suites'
# /proc probes are told through DEADBOLT_TEST_SYSCALL_ARCH, and their hang guards that
# emulation is slower (DEADBOLT_TEST_SLOWDOWN).
#
# Usage: scripts/test-arm64.sh [MAJOR] [SUITE...]   (default: 22, the lock-directory suites)
# Needs: qemu-user, libc6-arm64-cross, prebuilds/linux-arm64 (scripts/prebuild.sh arm64), dist-test (npm run build:test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
major="${1:-22}"
shift || true
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(dist-test/test/file/lock-directory.test.js dist-test/test/file/native.test.js)

command -v qemu-aarch64 >/dev/null || { echo "test-arm64: qemu-aarch64 missing (apt-get install qemu-user)" >&2; exit 1; }
[[ -d /usr/aarch64-linux-gnu/lib ]] || { echo "test-arm64: /usr/aarch64-linux-gnu missing (apt-get install libc6-arm64-cross)" >&2; exit 1; }
[[ -f prebuilds/linux-arm64/deadbolt.napi.glibc.node ]] || { echo "test-arm64: no arm64 prebuild (run scripts/prebuild.sh arm64)" >&2; exit 1; }
arm_node="$(bash .ci/install-node.sh "${major}" arm64)"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cat >"${work}/node" <<EOF
#!/bin/sh
exec qemu-aarch64 "${arm_node}" "\$@"
EOF
chmod +x "${work}/node"
echo 'process.execPath = process.env.DEADBOLT_QEMU_NODE;' >"${work}/exec-path.mjs"

export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu PREBUILDS_ONLY=1 DEADBOLT_TEST_SYSCALL_ARCH=x64 DEADBOLT_TEST_SLOWDOWN=5 DEADBOLT_QEMU_NODE="${work}/node"
export NODE_OPTIONS="--import=${work}/exec-path.mjs"
"${work}/node" -p '`node ${process.version} on ${process.arch}`'
"${work}/node" -e "import('./dist/file/addon.js').then((m) => console.log('addon:', m.nativeInfo().addonPath))"
# Each suite as its own process (the test runner would spawn its workers before the preload runs).
failed=0
for suite in "${suites[@]}"; do
  echo "test-arm64: ${suite}"
  "${work}/node" --test-reporter=spec "${suite}" || failed=1
done
exit "${failed}"
