#!/usr/bin/env bash
# Installs what microstack's tests need and this machine lacks. Idempotent:
# nothing is installed when every tool is present. As root it uses apt-get;
# otherwise it says what is missing and fails, so that a test needing a tool
# never skips silently.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [ip]=iproute2
  [chromium]=chromium
  [turnserver]=coturn
  [wrk]=wrk
  [node]=nodejs
)

missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/setup.sh: missing packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "tests/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
