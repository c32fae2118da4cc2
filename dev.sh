#!/usr/bin/env bash
# The development server: serves a function manifest from source and reloads it on save.
#
#   ./dev.sh [MANIFEST] [options]
#
#   MANIFEST  the function manifest (default: functions.faas at the repo root)
#   options   the published server's: --urls, -H/--host, -p/--port, --timeout, --portal, ... (the whole
#             list: ./dev.sh --help once it is built, or ./artifacts/bin/aotfaas --help)
#
# Serves on 127.0.0.1:3000 unless told otherwise. A save is served within a second, without a restart; a run in
# flight finishes under the definition it started with. A broken edit prints the build's diagnostics and the last
# good version keeps serving. Not for production: ./publish.sh builds the server (Native AOT, nothing read at start).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$repo/artifacts/dev"
dll="$out/AotFaas.Dev.dll"
stamp="$out/.built"

fail() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

manifest=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  manifest="$1"
  shift
fi
help=""
for arg in "$@"; do
  case "$arg" in -h|--help) help=1 ;; esac
done
if [ -z "$manifest" ]; then
  # The repo's manifest, named as the user would name it from where they stand.
  if [ "$PWD" = "$repo" ]; then manifest="functions.faas"; else manifest="$repo/functions.faas"; fi
fi
command -v dotnet >/dev/null 2>&1 || fail "the .NET SDK is not on PATH.
  Install the .NET 10 SDK: https://learn.microsoft.com/dotnet/core/install/linux"

# Built when missing or older than a source: every start and every reload after that runs no build. A stamp, not
# 'dotnet build' each time: an up-to-date build still takes seconds (MSBuild evaluates and checks each project),
# and the server itself starts in about one. The stamp's time is taken before the build, so a file saved during
# it counts as newer. The build goes to a folder beside artifacts/dev, renamed into place when done: a development
# server still running from the old one keeps its files. The lock keeps two starts from building at once; it is
# closed before the server runs.
stale() {
  [ -f "$stamp" ] && [ -f "$dll" ] || return 0
  [ -n "$(find "$repo/src" "$repo/Directory.Build.props" "$repo/Directory.Packages.props" "$repo/global.json" \
    \( -name bin -o -name obj \) -prune -o -type f -newer "$stamp" -print -quit)" ]
}
if [ -n "$help" ]; then
  # The server's own help lists every option; before the first build, this script's header says what it can.
  if stale; then sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0; fi
  exec dotnet "$dll" --help
fi
[ -f "$manifest" ] || fail "manifest '$manifest' not found"

mkdir -p "$repo/artifacts"
if stale; then
  exec 9>"$repo/artifacts/dev.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  if stale; then
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    sdk_major="$(dotnet --version 2>/dev/null | cut -d. -f1)"
    [ "${sdk_major:-0}" -ge 10 ] 2>/dev/null || fail "the .NET SDK is $(dotnet --version 2>/dev/null || echo unknown); AotFaas needs 10 or newer."
    echo "dev.sh: building the development server into artifacts/dev (first start, or src/ changed)" >&2
    started="$(date +%s%N)"
    rm -rf "$out.next" "$out.old"
    mkdir -p "$out.next"
    touch "$out.next/.built"
    log="$(mktemp)"
    # Intermediate files apart from the IDE/test build (obj/), as publish.sh keeps its own.
    if ! dotnet build "$repo/src/AotFaas.Dev/AotFaas.Dev.csproj" --nologo -v quiet -clp:NoSummary -c Release \
        --artifacts-path "$repo/artifacts/dev-obj" -o "$out.next" \
        ${AOTFAAS_NO_BUILD_SERVERS:+--disable-build-servers} >"$log" 2>&1; then
      cat "$log" >&2
      rm -rf "$log" "$out.next"
      fail "the development server did not build (see above)"
    fi
    rm -f "$log"
    [ ! -d "$out" ] || mv "$out" "$out.old"
    mv "$out.next" "$out"
    rm -rf "$out.old"
    printf 'dev.sh: built in %s s\n' "$(awk -v ns="$(( $(date +%s%N) - started ))" 'BEGIN { printf "%.1f", ns / 1e9 }')" >&2
  fi
  exec 9>&-
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec dotnet "$dll" "$manifest" "$@"
