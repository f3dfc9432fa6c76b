#!/usr/bin/env bash
# Fetch one pinned Debian package by name and version from a given suite and
# unpack it (dpkg-deb -x, no maintainer scripts) into the tool cache, without
# touching the system's apt configuration.
#
#   tools/fetch-deb.sh SUITE PACKAGE VERSION
#     e.g. tools/fetch-deb.sh trixie kustomize 5.6.0-1
#
# Prints the extraction root (…/PACKAGE_VERSION/root) on stdout. Re-runs are free:
# an existing extraction is reused. The mirror defaults to Debian's and can be
# overridden with BOT4_DEBIAN_MIRROR.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 SUITE PACKAGE VERSION" >&2
  exit 2
fi
suite=$1 pkg=$2 version=$3
cache=${BOT4_CACHE_DIR:-$HOME/.cache/bot4-hft}
mirror=${BOT4_DEBIAN_MIRROR:-http://deb.debian.org/debian}
dest="$cache/debs/${pkg}_${version}"

if [[ -f "$dest/.complete" ]]; then
  echo "$dest/root"
  exit 0
fi

aptdir="$cache/apt-$suite"
mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$aptdir/etc/preferences.d" "$aptdir/etc/apt.conf.d"
cat >"$aptdir/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main
SRC
: >"$aptdir/status"
aptopts=(
  -o "Dir::Etc::SourceList=$aptdir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=$aptdir/etc/preferences.d"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::State::Status=$aptdir/status"
  -o "Dir::Cache=$aptdir"
  -o "Dir::Cache::archives=$aptdir/archives"
  -o "APT::Get::List-Cleanup=false"
  -o "Debug::NoLocking=true"
  -o "APT::Sandbox::User=root"
)
# Refresh the private index when it is missing or older than a day.
if [[ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*_Packages*' -mtime -1 -print -quit)" ]]; then
  apt-get "${aptopts[@]}" -qq update >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${aptopts[@]}" -qq download "$pkg=$version" >&2)
deb=$(ls "$work"/*.deb)
rm -rf "$dest"
mkdir -p "$dest"
cp "$deb" "$dest/"
dpkg-deb -x "$deb" "$dest/root"
touch "$dest/.complete"
echo "$dest/root"
