#!/usr/bin/env bash
# Install, from Debian's archive, the packages whose commands the tests and benchmarks
# use beside the virtualenv, when a command is missing and this is root on Debian:
#   deploy/debian-packages.sh [--require] COMMAND=PACKAGE ...
# Where one cannot be installed it says which; with --require it then exits 1 (the
# benchmarks cannot run without theirs), otherwise 0 (the tests that need it skip,
# with their reason).
set -uo pipefail
require=0
status=0
for pair in "$@"; do
  if [ "$pair" = --require ]; then require=1; continue; fi
  command=${pair%%=*} package=${pair#*=}
  found() { command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ]; }
  found && continue
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$package" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 \
           && apt-get install -y -q --no-install-recommends "$package" >/dev/null 2>&1; }
  fi
  if ! found; then
    echo "$command is missing: install Debian's $package package" \
         "(apt-get install $package, as root)" >&2
    status=1
  fi
done
if [ "$require" = 1 ]; then exit "$status"; fi
exit 0
