#!/usr/bin/env bash
# Pinned tools for the cluster side, installed into the tool cache and never
# into the system:
#   tools/k8s-tools.sh kustomize    -> path of kustomize 5.6.0 (Debian trixie .deb)
#   tools/k8s-tools.sh promtool     -> path of promtool 2.42 (Debian bookworm .deb)
#   tools/k8s-tools.sh scan-venv    -> path of a virtualenv with requirements-scan.txt
#   tools/k8s-tools.sh all          -> all three, one per line
# Each command prints the path on stdout (progress goes to stderr). Override a
# tool with BOT4_KUSTOMIZE / BOT4_PROMTOOL (a binary) or BOT4_SCAN_VENV.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${BOT4_CACHE_DIR:-$HOME/.cache/bot4-hft}

KUSTOMIZE_SUITE=trixie
KUSTOMIZE_DEB_VERSION=5.6.0+ds-1+b2
PROMTOOL_SUITE=bookworm
PROMTOOL_DEB_VERSION=2.42.0+ds-5+deb12u1

kustomize() {
  if [[ -n "${BOT4_KUSTOMIZE:-}" ]]; then echo "$BOT4_KUSTOMIZE"; return; fi
  local root
  root=$("$here/fetch-deb.sh" "$KUSTOMIZE_SUITE" kustomize "$KUSTOMIZE_DEB_VERSION")
  echo "$root/usr/bin/kustomize"
}

promtool() {
  if [[ -n "${BOT4_PROMTOOL:-}" ]]; then echo "$BOT4_PROMTOOL"; return; fi
  local root
  root=$("$here/fetch-deb.sh" "$PROMTOOL_SUITE" prometheus "$PROMTOOL_DEB_VERSION")
  echo "$root/usr/bin/promtool"
}

scan_venv() {
  if [[ -n "${BOT4_SCAN_VENV:-}" ]]; then echo "$BOT4_SCAN_VENV"; return; fi
  local sum venv
  sum=$(sha256sum "$repo/requirements-scan.txt" | cut -c1-16)
  venv="$cache/venv-scan-$sum"
  if [[ ! -f "$venv/.complete" ]]; then
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$repo/requirements-scan.txt" >&2
    touch "$venv/.complete"
  fi
  echo "$venv"
}

case "${1:-}" in
  kustomize) kustomize ;;
  promtool) promtool ;;
  scan-venv) scan_venv ;;
  all) kustomize; promtool; scan_venv ;;
  *) echo "usage: $0 kustomize|promtool|scan-venv|all" >&2; exit 2 ;;
esac
