#!/usr/bin/env bash
# Fetches an official Node.js binary from the npm registry's node-linux-<arch> packages
# into .cache/node/<arch>-<major>/ (git-ignored) and prints the path of its `node`.
# Used by CI to run the suite on other Node lines, and for the arm64 build under qemu-user.
#
# Usage: .ci/install-node.sh MAJOR [ARCH]     e.g. .ci/install-node.sh 24   .ci/install-node.sh 22 arm64
# Idempotent: an existing download is reused (no network).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

major="${1:?usage: install-node.sh MAJOR [ARCH]}"
arch="${2:-x64}"
[[ ${major} =~ ^[0-9]+$ ]] || { echo "install-node: MAJOR must be a number, got ${major}" >&2; exit 64; }
[[ ${arch} =~ ^(x64|arm64)$ ]] || { echo "install-node: ARCH must be x64 or arm64, got ${arch}" >&2; exit 64; }

dest=".cache/node/${arch}-${major}"
if [[ ! -x ${dest}/bin/node ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  (cd "${tmp}" && npm pack --silent "node-linux-${arch}@${major}" >/dev/null)
  mkdir -p "${dest}"
  tar -xzf "${tmp}"/node-linux-"${arch}"-*.tgz -C "${dest}" --strip-components=1
  [[ -x ${dest}/bin/node ]] || { echo "install-node: ${dest}/bin/node missing after unpacking" >&2; exit 1; }
fi
echo "${PWD}/${dest}/bin/node"
