#!/usr/bin/env bash
# Checks that the installed collection tarball resolves as bot4.hft.* (run by
# `make collection-check` with ANSIBLE_COLLECTIONS_PATH pointing at the install).
set -euo pipefail
fail() { echo "collection-check: $*" >&2; exit 1; }

installed=$(ansible-galaxy collection list bot4.hft 2>/dev/null | awk '$1 == "bot4.hft" {print $2}')
[ -n "$installed" ] || fail "bot4.hft is not installed in $ANSIBLE_COLLECTIONS_PATH"
echo "installed bot4.hft $installed"

modules=$(ansible-doc -t module -l bot4.hft 2>/dev/null | awk '{print $1}')
filters=$(ansible-doc -t filter -l bot4.hft 2>/dev/null | awk '{print $1}')
roles=$(ansible-doc -t role -l bot4.hft 2>/dev/null | awk '/^bot4\.hft\./ {sub(":$", "", $1); print $1}')
# Every plugin and role of the tree, from the installed copy, with its documentation.
src=$(cd "$(dirname "$0")/.." && pwd)
for f in "$src"/plugins/modules/*.py; do
  m=bot4.hft.$(basename "$f" .py)
  grep -qx "$m" <<<"$modules" || fail "module $m does not resolve"
  ansible-doc -t module "$m" >/dev/null || fail "ansible-doc $m failed"
done
for f in "$src"/plugins/filter/*.yml; do
  name=bot4.hft.$(basename "$f" .yml)
  grep -qx "$name" <<<"$filters" || fail "filter $name does not resolve"
done
filter_names=()
for f in "$src"/plugins/filter/*.yml; do filter_names+=("bot4.hft.$(basename "$f" .yml)"); done
ansible-doc -t filter "${filter_names[@]}" >/dev/null || fail "ansible-doc of the filters failed"
for d in "$src"/roles/*/; do
  r=bot4.hft.$(basename "$d")
  grep -qx "$r" <<<"$roles" || fail "role $r does not resolve"
done

# A playbook that uses the installed collection by FQCN, on localhost.
out=$(ansible localhost -i localhost, -c local -m ansible.builtin.debug -a "msg={{ '0-3,8' | bot4.hft.cpulist_expand | bot4.hft.cpulist }}" 2>&1) \
  || fail "filter use failed: $out"
grep -Eq '(msg: |")0-3,8"?$' <<<"$out" || fail "unexpected filter output: $out"
# A filter over the collection's module_utils (kubelet.py), from the installed copy.
out=$(ansible localhost -i localhost, -c local -m ansible.builtin.debug \
  -a "msg={{ (dict(kubelet=dict()) | bot4.hft.kubelet_settings(none)).owned_keys | length }}" 2>&1) \
  || fail "kubelet_settings use failed: $out"
grep -Eq '(msg: |")11"?$' <<<"$out" || fail "unexpected kubelet_settings output: $out"
echo "collection-check: modules, filters and roles resolve from the built tarball"
