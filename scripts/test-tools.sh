#!/usr/bin/env bash
# Make sure the command-line tools the test suite (or the benchmark) drives are installed.
#
# tests/routers/test_ogc.py reads the OGC API with GDAL's ogrinfo and ogr2ogr, as a GIS client
# would; tests/web/ drives the lookup page in Debian's headless Chromium through its chromedriver
# (with a Devanagari font for the Nepali pages and a Khmer one for the Khmer pages);
# tests/test_readme_walkthrough.py runs the README's walkthrough with curl (not in Debian's
# smallest installs); `make bench` drives load with wrk (TOOL_PACKAGES=wrk TOOL_COMMANDS=wrk).
# When they are missing, on a Debian machine: install the packages. Running it again changes
# nothing.
set -euo pipefail

read -r -a PACKAGES <<<"${TOOL_PACKAGES:-gdal-bin chromium chromium-driver fonts-lohit-deva fonts-khmeros curl}"
read -r -a COMMANDS <<<"${TOOL_COMMANDS:-ogrinfo ogr2ogr chromium chromedriver curl}"

say() { printf 'test-tools: %s\n' "$*" >&2; }

cannot() {
  cat >&2 <<EOF
test-tools: $*

Relay needs ${COMMANDS[*]} here (for the tests: GDAL 3.6 or newer, with its OAPIF driver;
Chromium with the chromedriver of the same version).
Either
  - install the Debian package ${PACKAGES[*]} (as root) and run this again, or
  - install them from your platform's packages, so that ${COMMANDS[*]} are on PATH.
EOF
  exit 1
}

missing_commands() {
  local tool
  for tool in "${COMMANDS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || return 0
  done
  return 1
}

# On Debian, packages without a command (the font) are checked by name too.
missing_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 1
  local package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || return 0
  done
  return 1
}

missing_commands || missing_packages || exit 0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else cannot "installing packages needs root (or sudo), and this is user $(id -un)"
  fi
}

command -v apt-get >/dev/null 2>&1 || cannot "this machine has no apt-get to install ${PACKAGES[*]}"
say "installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null; then
  say "package lists look stale; running apt-get update once"
  as_root apt-get update -q >/dev/null
  as_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null \
    || cannot "apt-get could not install ${PACKAGES[*]}"
fi
if missing_commands; then
  cannot "${PACKAGES[*]} is installed, yet ${COMMANDS[*]} is not on PATH"
fi
say "${PACKAGES[*]} ready"
