#!/usr/bin/env bash
# Builds the prebuilt addons the package ships, in node-gyp-build's layout:
#   prebuilds/linux-x64/deadbolt.napi.glibc.node     (this machine's g++)
#   prebuilds/linux-arm64/deadbolt.napi.glibc.node   (Debian's g++-aarch64-linux-gnu)
# The addon uses N-API only (node-addon-api, NAPI_VERSION in binding.gyp), so one
# build per platform loads on every Node line; no per-ABI builds.
#
# Each target is built in a scratch copy of binding.gyp + native/, so the
# developer's own build/ (the x64 addon the tests load) is never touched.
# Prebuilds are not committed: CI builds them before `npm pack`
# (scripts/check-package.js fails on a tarball without both).
#
# Usage: scripts/prebuild.sh [x64] [arm64]      (default: both)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="${PWD}"
node_gyp=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
[[ -f ${node_gyp} ]] || node_gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f ${node_gyp} ]] || { echo "prebuild: node-gyp (bundled with npm) not found" >&2; exit 1; }

# Node's headers: the installed Node's (N-API headers are the same for every architecture).
nodedir="$(dirname "$(dirname "$(command -v node)")")"
[[ -f ${nodedir}/include/node/node_api.h ]] || { echo "prebuild: ${nodedir}/include/node/node_api.h missing (Node's headers)" >&2; exit 1; }

build() {
  local arch=$1 scratch
  scratch="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the trap outlives this function's locals
  trap "rm -rf '${scratch}'" RETURN
  cp -r binding.gyp native "${scratch}/"
  local -a env=(NODE_PATH="${root}/node_modules")  # binding.gyp resolves node-addon-api with require()
  if [[ ${arch} == arm64 ]]; then
    command -v aarch64-linux-gnu-g++ >/dev/null || { echo "prebuild: aarch64-linux-gnu-g++ missing (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }
    env+=(CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar)
  fi
  (cd "${scratch}" && env "${env[@]}" node "${node_gyp}" rebuild --arch="${arch}" --nodedir="${nodedir}" >build.log 2>&1) || {
    cat "${scratch}/build.log" >&2
    echo "prebuild: the ${arch} build failed" >&2
    exit 1
  }
  local machine
  machine="$(od -An -tx1 -j18 -N2 "${scratch}/build/Release/deadbolt.node" | tr -d ' ')"  # ELF e_machine
  case "${arch}:${machine}" in
    x64:3e00 | arm64:b700) ;;
    *) echo "prebuild: the ${arch} build produced an ELF for machine ${machine}" >&2; exit 1 ;;
  esac
  mkdir -p "prebuilds/linux-${arch}"
  cp "${scratch}/build/Release/deadbolt.node" "prebuilds/linux-${arch}/deadbolt.napi.glibc.node"
  echo "prebuilds/linux-${arch}/deadbolt.napi.glibc.node"
}

archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || archs=(x64 arm64)
for arch in "${archs[@]}"; do
  [[ ${arch} =~ ^(x64|arm64)$ ]] || { echo "prebuild: unknown architecture ${arch} (x64 or arm64)" >&2; exit 64; }
  build "${arch}"
done
