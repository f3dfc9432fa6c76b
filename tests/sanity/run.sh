#!/usr/bin/env bash
# ansible-test from an ansible_collections/bot4/hft layout, with no container
# and no download: run by tox (tox.ini) in a virtualenv holding the pinned
# ansible-core and ansible-test's own requirement pins.
#   tests/sanity/run.sh sanity [ansible-test options]
#   tests/sanity/run.sh units [ansible-test options]
# The layout is a copy of the collection as `ansible-galaxy collection build`
# takes it: the files git tracks or would track, less galaxy.yml's build_ignore
# (the lab and benchmark tooling). A copy, not a symlink such as
# .cache/collections': ansible-test takes the real path of its working
# directory. It goes under .cache/ansible-test/<env>/, the tox environment's name.
set -euo pipefail
command=$1; shift
src=$(cd "$(dirname "$0")/../.." && pwd)
python=$(command -v python)
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
env_name=$(basename "$(dirname "$(dirname "$python")")")
root=$src/.cache/ansible-test/$env_name
dest=$root/ansible_collections/bot4/hft
rm -rf "$root"
mkdir -p "$dest"
(cd "$src" && git ls-files -co --exclude-standard -z | python -c '
import fnmatch, sys, yaml
ignore = yaml.safe_load(open("galaxy.yml")).get("build_ignore") or []
for path in sys.stdin.read().split("\0"):
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    if path and not any(fnmatch.fnmatch(p, pat) for p in prefixes for pat in ignore):
        sys.stdout.write(path + "\0")
' | xargs -0 cp -a --parents -t "$dest")
cd "$dest"
# A repository of its own: ansible-test lists the files through the nearest .git
# above its working directory, which would otherwise be this checkout's, where
# .cache/ is ignored.
git init -q && git add -A
# ansible-test makes a virtualenv per sanity test under ~/.ansible/test/venv,
# without pip, and bootstraps pip with a script it would download: a HOME of
# its own (kept between runs, so are the virtualenvs) with the stand-in
# tests/sanity/get_pip.py in place of that script.
export HOME=$src/.cache/ansible-test/home-$env_name
pip_version=$(python -c 'import re, ansible_test, pathlib
text = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip=.([0-9.]+).,", text).group(1))')
mkdir -p "$HOME/.ansible/test/cache"
cp "$src/tests/sanity/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
ansible-test --version
case $command in
  sanity) exec ansible-test sanity --local --python "$py_version" --color no "$@" ;;
  units) exec ansible-test units --local --python "$py_version" --color no "$@" ;;
  *) echo "usage: $0 sanity|units [ansible-test options]" >&2; exit 2 ;;
esac
