#!/usr/bin/env bash
# Installs the Debian 12 packages localfit needs to build, test and plot,
# only those missing. As root it runs apt-get; otherwise it prints the exact
# command to run and fails, so a build never half-works for lack of a package.
# Usage: scripts/deps.sh [build|test|ci|fuzz]
set -euo pipefail
what=${1:-build}
pkgs=(build-essential cmake pkg-config libhwloc-dev libcpuid-dev libsqlite3-dev
      libjansson-dev gnuplot-nox sqlite3)
case "$what" in
  test) pkgs+=(libcmocka-dev) ;;
  # libc6-dev-arm64-cross: the cross C library, only a Recommends of gcc-aarch64-linux-gnu
  # clang's libFuzzer and sanitizer runtimes (libclang_rt.fuzzer) are in
  # libclang-rt-14-dev, only a Recommends of clang on Debian 12
  # chromium: the report test renders the HTML headless and checks it (it
  # skips, saying so, where chromium is absent)
  ci)   pkgs+=(libcmocka-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user clang libclang-rt-14-dev chromium) ;;
  fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "localfit: missing packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "localfit: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
