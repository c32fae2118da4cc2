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

# The portal test drives a real headless Chromium (Debian's chromium package).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium (Debian package) for the portal test"
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null; } \
      || echo "test.sh: could not install chromium; the portal test will fail" >&2
  else
    echo "test.sh: chromium is missing and cannot be installed here (not root, or no apt-get): install it (sudo apt-get install -y chromium), or the portal test fails" >&2
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
