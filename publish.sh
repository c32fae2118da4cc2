#!/usr/bin/env bash
# Builds the AotFaas server as one trimmed Native AOT executable, with a function manifest compiled in.
#
#   ./publish.sh [MANIFEST] [-o DIR]
#
#   MANIFEST  the function manifest to compile in (default: functions.faas at the repo root)
#   -o DIR    where to put the executable (default: artifacts/bin); it is DIR/aotfaas
#
# Prerequisites are checked first: the .NET 10 SDK, a C compiler and linker (clang or gcc), objcopy.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$repo/functions.faas"
out="$repo/artifacts/bin"

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
fail() { printf 'publish.sh: %s\n' "$*" >&2; exit 1; }

manifest_given=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -o|--output) [ $# -ge 2 ] || fail "$1 needs a directory"; out="$2"; shift 2 ;;
    --output=*) out="${1#--output=}"; shift ;;
    -*) fail "unknown option '$1' (try --help)" ;;
    *) [ -z "$manifest_given" ] || fail "one manifest at a time ('$manifest_given' and '$1')"
       manifest_given="$1"; shift ;;
  esac
done

if [ -n "$manifest_given" ]; then
  [ -f "$manifest_given" ] || fail "manifest '$manifest_given' not found"
  manifest="$(cd "$(dirname "$manifest_given")" && pwd)/$(basename "$manifest_given")"
fi
[ -f "$manifest" ] || fail "manifest '$manifest' not found"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# --- prerequisites -------------------------------------------------------------------------------
command -v dotnet >/dev/null 2>&1 || fail "the .NET SDK is not on PATH.
  Install the .NET 10 SDK: https://learn.microsoft.com/dotnet/core/install/linux"
sdk_major="$(dotnet --version 2>/dev/null | cut -d. -f1)"
[ "${sdk_major:-0}" -ge 10 ] 2>/dev/null || fail "the .NET SDK is $(dotnet --version 2>/dev/null || echo unknown); AotFaas needs 10 or newer."

# Native AOT compiles to object code and links with the platform's C toolchain.
cc=""
if command -v clang >/dev/null 2>&1; then
  cc=clang
else
  cc="$(compgen -c clang- 2>/dev/null | grep -E '^clang-[0-9]+$' | sort -t- -k2 -n | tail -n 1 || true)"
  [ -n "$cc" ] || { command -v gcc >/dev/null 2>&1 && cc=gcc; } || true
fi
[ -n "$cc" ] || fail "Native AOT needs a C compiler and linker, and none was found (clang, clang-NN or gcc).
  Debian/Ubuntu: sudo apt-get install -y clang
  Fedora/RHEL:   sudo dnf install -y clang
  Alpine:        sudo apk add clang build-base"
command -v objcopy >/dev/null 2>&1 || fail "objcopy (binutils) is missing; Native AOT uses it to split debug symbols.
  Debian/Ubuntu: sudo apt-get install -y binutils"

# Asynchronous calls keep their calls in SQLite, linked into the binary from its static library.
have_sqlite_archive() {
  [ -n "${SqliteArchive:-}" ] && return 0
  for archive in /usr/lib/*/libsqlite3.a /usr/lib64/libsqlite3.a /usr/lib/libsqlite3.a; do
    [ -f "$archive" ] && return 0
  done
  return 1
}
if grep -Eq '^[[:space:]]+async:[[:space:]]*true([[:space:]]|#|$)' "$manifest" && ! have_sqlite_archive; then
  fail "the manifest has a function with 'async: true', whose calls are kept in SQLite, linked into the binary from
  libsqlite3.a, which is missing.
  Debian/Ubuntu: sudo apt-get install -y libsqlite3-dev
  Fedora/RHEL:   sudo dnf install -y sqlite-devel
  Alpine:        sudo apk add sqlite-static
  Elsewhere:     SqliteArchive=/path/to/libsqlite3.a ./publish.sh ..."
fi

case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) fail "unsupported machine '$(uname -m)': Native AOT targets x86_64 and aarch64 Linux" ;;
esac
if ldd --version 2>&1 | grep -qi musl; then rid="linux-musl-$arch"; else rid="linux-$arch"; fi

# --- build ---------------------------------------------------------------------------------------
# Intermediate files live apart from the IDE/test build (obj/), keyed by output folder, so that
# publishing another manifest never disturbs a build or test run in progress.
build="$repo/artifacts/publish-obj/$(printf '%s' "$out" | cksum | cut -d' ' -f1)"
echo "publish.sh: compiling $manifest for $rid with $cc"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# Published into a folder beside the output, then renamed into place: a server running from the output
# keeps its file (a rename never writes into a running binary), and never sees half a new one.
mkdir -p "$out"
stage="$(mktemp -d "$out/.publish.XXXXXX")"
trap 'rm -f "$log"; rm -rf "$stage"' EXIT
dotnet publish "$repo/src/AotFaas/AotFaas.csproj" \
  --nologo -v quiet -clp:NoSummary \
  -c Release -r "$rid" \
  --artifacts-path "$build" \
  -o "$stage" \
  -p:FaasManifest="$manifest" \
  -p:CppCompilerAndLinker="$cc" \
  ${AOTFAAS_NO_BUILD_SERVERS:+--disable-build-servers} >"$log" 2>&1 || status=$?
if grep -q 'error FAAS' "$log"; then
  # A broken manifest generates no FunctionTable; the compiler's complaints about that are only echoes.
  grep -v "error CS0103: The name 'FunctionTable' does not exist" "$log" >&2 || true
  fail "the manifest has errors (above, as FILE(LINE,COLUMN): error FAASnnn); nothing was built"
fi
cat "$log"
[ "$status" -eq 0 ] || fail "the build failed (see the errors above)"

[ -x "$stage/aotfaas" ] || fail "the build reported success but $stage/aotfaas is missing"
for file in "$stage"/*; do
  mv -f "$file" "$out/"
done
binary="$out/aotfaas"
size="$(stat -c %s "$binary")"
printf 'publish.sh: %s (%s bytes, %s MiB)\n' "$binary" "$size" "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')"
printf 'publish.sh: run it with: %s --urls http://127.0.0.1:3000\n' "$binary"
