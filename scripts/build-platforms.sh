#!/usr/bin/env bash
# npm run build:platforms [-- PLATFORM...]
#
# Cross-builds the portable Linux binaries on any x86_64 Linux machine, each into its own
# platform package under npm/<platform>/:
#   linux-x64-gnu    x86_64-unknown-linux-gnu, linked against glibc 2.17 (zig)
#   linux-arm64-gnu  aarch64-unknown-linux-gnu, linked against glibc 2.17 (zig)
#   linux-x64-musl   x86_64-unknown-linux-musl (zig)
#   linux-arm64-musl aarch64-unknown-linux-musl (zig; only when named, as the release does)
# with `napi build -x` (cargo-zigbuild + zig as the C compiler and linker). Missing pieces are
# installed first: the rustup targets, and zig + cargo-zigbuild from PyPI (ziglang,
# cargo-zigbuild). macOS and Windows binaries are built by .github/workflows/release.yml.
#
# Cargo's output goes to $CARGO_TARGET_DIR, else target/platforms (not target/, so a
# cross build never waits on, or invalidates, the host build's lock and artifacts).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# platform  cargo target (a .2.17 suffix pins the glibc that zig links against)
ALL=(
  "linux-x64-gnu x86_64-unknown-linux-gnu.2.17"
  "linux-arm64-gnu aarch64-unknown-linux-gnu.2.17"
  "linux-x64-musl x86_64-unknown-linux-musl"
  "linux-arm64-musl aarch64-unknown-linux-musl"
)
# Built when no platform is named. linux-arm64-musl is built only on request (the release
# workflow does): nothing on this machine can run it.
DEFAULT="linux-x64-gnu linux-arm64-gnu linux-x64-musl"
# Versions this was verified with; newer ones are used if already installed.
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1

want=("$@")
selected=()
for entry in "${ALL[@]}"; do
  p=${entry%% *}
  if { [ ${#want[@]} -eq 0 ] && [[ " $DEFAULT " == *" $p "* ]]; } || [[ " ${want[*]} " == *" $p "* ]]; then selected+=("$entry"); fi
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "build:platforms: no such platform: ${want[*]} (known: $(printf '%s ' "${ALL[@]%% *}"))" >&2
  exit 2
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "build:platforms: runs on x86_64 Linux (this is $(uname -s)-$(uname -m)); see docs/platforms.md" >&2
  exit 2
fi

# --- toolchain -------------------------------------------------------------------------
command -v rustup >/dev/null || { echo "build:platforms: rustup is required (to add the cross targets)" >&2; exit 1; }
installed_targets=$(rustup target list --installed)
for entry in "${selected[@]}"; do
  t=${entry#* }; t=${t%.2.17}
  grep -qx "$t" <<<"$installed_targets" || { echo "build:platforms: rustup target add $t"; rustup target add "$t"; }
done
PY=${PYTHON:-python3}
if ! "$PY" -c 'import ziglang' 2>/dev/null || ! command -v cargo-zigbuild >/dev/null; then
  echo "build:platforms: pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION (zig: the C toolchain for cross linking)"
  "$PY" -m pip install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  hash -r
  command -v pyenv >/dev/null && pyenv rehash || true
fi
command -v cargo-zigbuild >/dev/null || { echo "build:platforms: cargo-zigbuild is not on PATH after pip install (add pip's script directory to PATH)" >&2; exit 1; }

# --- builds ----------------------------------------------------------------------------
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/platforms}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
napi=$ROOT/node_modules/.bin/napi
[ -x "$napi" ] || { echo "build:platforms: run npm install first (needs @napi-rs/cli)" >&2; exit 1; }

total_start=$SECONDS
summary=()
for entry in "${selected[@]}"; do
  platform=${entry%% *}
  target=${entry#* }
  out=$ROOT/npm/$platform
  [ -f "$out/package.json" ] || { echo "build:platforms: $out/package.json is missing" >&2; exit 1; }
  rm -f "$out"/*.node
  echo "== build:platforms: $platform ($target) -> npm/$platform"
  start=$SECONDS
  # Into scratch, then the .node alone into the package: index.js and index.d.ts are
  # maintained at the root (--no-js; the generated .d.ts stays in scratch).
  "$napi" build --platform --release --cross-compile --target "$target" --features node \
    --no-js --dts napi-generated.d.ts --output-dir "$scratch/$platform"
  built=$scratch/$platform/mcp-sessions-native.$platform.node
  [ -f "$built" ] || { echo "build:platforms: napi build did not write $built" >&2; ls -laR "$scratch/$platform" >&2; exit 1; }
  file=$out/mcp-sessions-native.$platform.node
  cp "$built" "$file"
  summary+=("$(printf '%-16s %4ss  %s bytes  %s' "$platform" $((SECONDS - start)) "$(stat -c %s "$file")" "${file#"$ROOT"/}")")
done
echo "== build:platforms: done in $((SECONDS - total_start))s (cargo target dir $CARGO_TARGET_DIR)"
printf '   %s\n' "${summary[@]}"
