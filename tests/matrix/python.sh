#!/usr/bin/env bash
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# A Python 3.12 or later for the newest ansible-core of the version matrix
# (make matrix; ansible-core 2.20 and later need it on the controller). Debian 12
# has Python 3.11 only, so where no python3.13 or python3.12 runs on PATH, this
# builds CPython from the upstream source tarball that Debian 13 (trixie) ships as
# its python3.13 source package's .orig.tar.xz: pinned by URL and sha256 below,
# checked before it is unpacked.
#
#   tests/matrix/python.sh find    -> path of a python3.13/python3.12 that runs,
#                                     else of the built one (built when missing)
#   tests/matrix/python.sh build   -> path of the built one (built when missing)
#   tests/matrix/python.sh found   -> what find prints, if that needs no build;
#                                     else exits 1 (make matrix installs the
#                                     build's packages then)
#
# The path goes to stdout, progress to stderr. BOT4_PY312=/path/to/python wins
# over both. The build is installed into
# ${BOT4_CACHE_DIR:-~/.cache/bot4-hft}/python/<version>-<hash>/ (its --prefix)
# where the hash covers the tarball's sha256 and the configure options: a re-run
# reuses it, a change of either builds anew. No PGO, no LTO (a build of some
# minutes rather than some tens); configure, make and the checks run under
# nice -n 19. The build's Debian dependencies are in tests/matrix/host-packages.txt
# (make matrix installs them when it builds). The log is build.log beside the
# prefix's bin/, the timings build-time.txt.
set -euo pipefail

PYTHON_VERSION=3.13.5
PYTHON_URL=http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_3.13.5.orig.tar.xz
PYTHON_SIZE=22856016
PYTHON_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
CONFIGURE_OPTIONS=(--disable-optimizations --without-lto --with-ensurepip=install)
# The modules that the build must have (ansible-test and pip need ssl, ctypes,
# sqlite3, bz2, lzma and zlib among others).
REQUIRED_MODULES=(ssl ctypes sqlite3 bz2 lzma zlib readline _uuid _hashlib _decimal venv ensurepip)

cache=${BOT4_CACHE_DIR:-$HOME/.cache/bot4-hft}
key=$(printf '%s\n' "$PYTHON_SHA256" "${CONFIGURE_OPTIONS[@]}" | sha256sum | cut -c1-16)
dest=$cache/python/$PYTHON_VERSION-$key
tarball=$cache/python/${PYTHON_URL##*/}

log() { echo "python.sh: $*" >&2; }

# A python3.13 or python3.12 on PATH that runs and is 3.12 or later (a shim of
# a version manager with no such version selected fails here).
find_on_path() {
  local name candidate
  for name in python3.13 python3.12; do
    candidate=$(command -v "$name" 2>/dev/null) || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

check_modules() {
  local python=$1 imports
  imports=$(IFS=,; echo "${REQUIRED_MODULES[*]}")
  nice -n 19 "$python" -c "import $imports; import ssl; print(ssl.OPENSSL_VERSION)" >&2
}

fetch() {
  mkdir -p "${tarball%/*}"
  if [[ -f "$tarball" ]] && echo "$PYTHON_SHA256  $tarball" | sha256sum -c --status; then
    return 0
  fi
  log "downloading $PYTHON_URL"
  curl -fsSL --retry 3 -o "$tarball.part" "$PYTHON_URL"
  local size
  size=$(stat -c %s "$tarball.part")
  if [[ "$size" != "$PYTHON_SIZE" ]] || ! echo "$PYTHON_SHA256  $tarball.part" | sha256sum -c --status; then
    log "$PYTHON_URL: size $size, sha256 $(sha256sum "$tarball.part" | cut -d' ' -f1); expected size $PYTHON_SIZE, sha256 $PYTHON_SHA256"
    rm -f "$tarball.part"
    return 1
  fi
  mv "$tarball.part" "$tarball"
}

build() {
  if [[ -f "$dest/.complete" ]]; then
    echo "$dest/bin/python3"
    return 0
  fi
  fetch
  rm -rf "$dest"
  mkdir -p "$dest"
  local work start end jobs
  work=$(mktemp -d "$cache/python/build.XXXXXX")
  # shellcheck disable=SC2064  # the path is fixed now
  trap "rm -rf '$work'" EXIT
  jobs=${BOT4_PYTHON_JOBS:-2}
  log "building CPython $PYTHON_VERSION into $dest (log: $dest/build.log)"
  start=$(date +%s)
  tar -xJf "$tarball" -C "$work" --strip-components=1
  # One chain of &&: errexit does not apply inside a command whose status is tested.
  # The make of make matrix passes its flags and jobserver down: not to this build.
  if ! (
    unset MAKEFLAGS MFLAGS MAKELEVEL &&
      cd "$work" &&
      nice -n 19 ./configure --prefix="$dest" "${CONFIGURE_OPTIONS[@]}" &&
      echo "configure $(($(date +%s) - start)) s" >"$dest/build-time.txt" &&
      nice -n 19 make -j"$jobs" &&
      echo "make -j$jobs $(($(date +%s) - start)) s (since the start)" >>"$dest/build-time.txt" &&
      nice -n 19 make install
  ) >"$dest/build.log" 2>&1; then
    log "the build failed; the end of $dest/build.log:"
    tail -n 40 "$dest/build.log" >&2
    return 1
  fi
  end=$(date +%s)
  echo "total $((end - start)) s (unpack, configure, make, make install)" >>"$dest/build-time.txt"
  if ! check_modules "$dest/bin/python3"; then
    log "the built python lacks a module: see $dest/build.log (missing build dependencies? tests/matrix/host-packages.txt)"
    return 1
  fi
  touch "$dest/.complete"
  log "built in $((end - start)) s: $dest/bin/python3"
  echo "$dest/bin/python3"
}

case "${1:-}" in
  find)
    if [[ -n "${BOT4_PY312:-}" ]]; then echo "$BOT4_PY312"; exit 0; fi
    find_on_path || build
    ;;
  found)
    if [[ -n "${BOT4_PY312:-}" ]]; then echo "$BOT4_PY312"; exit 0; fi
    find_on_path && exit 0
    [[ -f "$dest/.complete" ]] || exit 1
    echo "$dest/bin/python3"
    ;;
  build)
    if [[ -n "${BOT4_PY312:-}" ]]; then echo "$BOT4_PY312"; exit 0; fi
    build
    ;;
  *) echo "usage: $0 find|build|found" >&2; exit 2 ;;
esac
