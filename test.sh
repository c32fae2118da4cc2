#!/usr/bin/env bash
# Runs every test: the manifest compiler (tests/AotFaas.Generators.Tests), the server on real
# processes and sockets (tests/AotFaas.Tests), the development server's manifest loading and reloads
# (tests/AotFaas.Dev.Tests), and the Native AOT binary published by publish.sh and ./dev.sh, driven
# over HTTP on 127.0.0.1 (tests/AotFaas.EndToEnd). Prints one closing line:
#   tests: N passed, N failed, N skipped
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"

command -v dotnet >/dev/null 2>&1 || { echo "test.sh: the .NET 10 SDK is not on PATH" >&2; exit 1; }

# Tools some end-to-end tests drive, from Debian's packages: a real headless Chromium (the portal test), wrk (the
# binary swap under load), systemd-socket-activate (socket activation), jq and python3 (the README's first functions),
# openssl and curl (the TLS tests' certificates and clients), nats-server (the NATS JetStream store's tests).
need_debian() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing $2 (Debian package) for $1"
    apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null; } \
      || echo "test.sh: could not install $2; the tests that need $1 will fail" >&2
  else
    echo "test.sh: $1 is missing and cannot be installed here (not root, or no apt-get): install it (sudo apt-get install -y $2), or the tests that need it fail" >&2
  fi
}
command -v chromium-browser >/dev/null 2>&1 || need_debian chromium chromium
need_debian wrk wrk
need_debian systemd-socket-activate systemd
need_debian jq jq
need_debian python3 python3
need_debian openssl openssl
need_debian curl curl
# A real NATS server with JetStream for the asynchronous calls' shared store (the tests start their own on loopback).
need_debian nats-server nats-server

# SQLite's library and its static archive (asynchronous calls: the JIT-built tests load libsqlite3.so, the native
# binaries link libsqlite3.a): Debian's libsqlite3-dev.
have_sqlite_archive() {
  for archive in /usr/lib/*/libsqlite3.a /usr/lib64/libsqlite3.a /usr/lib/libsqlite3.a; do
    [ -f "$archive" ] && return 0
  done
  return 1
}
if ! have_sqlite_archive; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing libsqlite3-dev (Debian package) for the asynchronous calls' store"
    apt-get install -y -qq libsqlite3-dev >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libsqlite3-dev >/dev/null; } \
      || echo "test.sh: could not install libsqlite3-dev; the asynchronous calls' tests will fail" >&2
  else
    echo "test.sh: SQLite's libsqlite3.a is missing (sudo apt-get install -y libsqlite3-dev), or the asynchronous calls' tests fail" >&2
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# No build server outlives the run: a lingering one would keep CI's output pipe open.
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0 UseSharedCompilation=false
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
dotnet test AotFaas.sln --nologo 2>&1 | tee "$log" || status=$?

# Sum the per-project summaries ("Passed!  - Failed: 0, Passed: 67, Skipped: 0, ...").
summary="$(grep -E '(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' "$log" \
  | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\1 \2 \3/' \
  | awk '{ f += $1; p += $2; s += $3; n++ } END { if (n) printf "%d passed, %d failed, %d skipped", p, f, s }')"
projects="$(grep -cE '(Passed|Failed)! +- Failed:' "$log" || true)"
echo
if [ -z "$summary" ]; then
  echo "test.sh: no test ran (see the build output above)" >&2
  exit 1
fi
echo "tests: $summary"
if [ "$projects" -lt 4 ] && [ "$status" -eq 0 ]; then
  echo "test.sh: expected 4 test projects to report, $projects did" >&2
  exit 1
fi
exit "$status"
