#!/usr/bin/env bash
# The execution environment, without a container engine: ansible-builder writes
# the build context of execution-environment.yml (with the built tarball in it),
# and its introspect step, run over the installed collection, finds the Python
# and system packages that meta/execution-environment.yml declares.
# Run by `make collection-check` after the build and install into build/install.
set -euo pipefail
fail() { echo "ee-check: $*" >&2; exit 1; }
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"

version=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
tarball=bot4-hft-$version.tar.gz
[ -f "build/$tarball" ] || fail "build/$tarball is missing (make collection-check builds it)"
grep -q "collections/$tarball" execution-environment.yml || fail "execution-environment.yml does not name collections/$tarball"
grep -q "src: build/$tarball" execution-environment.yml || fail "execution-environment.yml does not copy build/$tarball"

rm -rf build/ee
ansible-builder create -f execution-environment.yml -c build/ee --output-filename Containerfile -v 1 \
  || fail "ansible-builder create failed"
[ -s build/ee/Containerfile ] || fail "no Containerfile"
cmp -s "build/$tarball" "build/ee/_build/collections/$tarball" || fail "the tarball is not in the build context"
grep -q "name: collections/$tarball" build/ee/_build/requirements.yml || fail "the context's requirements.yml does not install the tarball"
grep -q 'ansible-galaxy collection install .*-r requirements.yml' build/ee/Containerfile \
  || fail "the Containerfile does not install the collections"

deps=$(ansible-builder introspect --sanitize build/install 2>/dev/null) || fail "ansible-builder introspect failed"
echo "$deps"
python - "$deps" <<'PY'
import sys, yaml
deps = yaml.safe_load(sys.argv[1].split("---", 1)[1])
def declared(path):
    out = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out
want_py = [r.split(">=")[0].split("==")[0].strip().lower() for r in declared("meta/ee-requirements.txt")]
want_sys = declared("meta/ee-bindep.txt")
got_py = [d.split("#")[0].strip().lower() for d in deps.get("python") or [] if "from collection bot4.hft" in d]
got_sys = [d.split("#")[0].strip() for d in deps.get("system") or [] if "from collection bot4.hft" in d]
# PyYAML is sanitized away: ansible-core itself requires it.
missing = [p for p in want_py if p != "pyyaml" and not any(g.startswith(p) for g in got_py)]
missing += [s for s in want_sys if s not in got_sys]
if missing:
    sys.exit(f"ee-check: introspect did not find {missing} for bot4.hft")
print(f"ee-check: build context written; introspect finds {len(got_py)} Python and {len(got_sys)} system requirements of bot4.hft")
PY
