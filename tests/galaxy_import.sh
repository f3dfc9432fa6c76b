#!/usr/bin/env bash
# Galaxy's own import check on the built tarball: galaxy-importer, with no
# container engine (tests/galaxy_importer/galaxy-importer.cfg says what runs).
# Fails on any error or warning it logs (but its note on each of
# tests/sanity/ignore-2.N.txt), and unless every module and filter of the tree
# came out of it with its documentation.
#   tests/galaxy_import.sh [TARBALL]   (default: the one `make collection-check` built)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tarball=${1:-$(ls "$src"/build/bot4-hft-*.tar.gz)}
out=$src/build/galaxy-importer
rm -rf "$out" && mkdir -p "$out"
export GALAXY_IMPORTER_CONFIG=$src/tests/galaxy_importer/galaxy-importer.cfg
# ansible-lint and ansible-doc inside it resolve the collection from the tarball
# it unpacks; nothing of this checkout may leak in.
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_CONFIG
(cd "$out" && python -m galaxy_importer.main "$tarball") > "$out/import.log" 2>&1 || {
  cat "$out/import.log"; echo "galaxy-import: galaxy-importer failed" >&2; exit 1; }
cat "$out/import.log"
# Every warning or error fails, except the one Galaxy prints for each
# tests/sanity/ignore-2.N.txt, when it counts that file's entries (each of
# which carries its reason there).
python - "$out/import.log" "$src/tests/sanity" <<'PY'
import pathlib, re, sys
log, sanity = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
bad = []
for line in log.read_text().splitlines():
    if not re.match(r"(WARNING|ERROR|CRITICAL)\b", line):
        continue
    m = re.fullmatch(r"WARNING: Ignore files skip ansible-test sanity tests, found (ignore-2\.\d+\.txt) with (\d+) statement\(s\)", line)
    if m and (sanity / m[1]).is_file() \
            and int(m[2]) == sum(1 for entry in (sanity / m[1]).read_text().splitlines() if entry.strip()):
        print("galaxy-import: known: %s" % line)
        continue
    bad.append(line)
if bad:
    sys.exit("galaxy-import: the importer reported:\n" + "\n".join(bad))
PY
grep -q '^Importer processing completed successfully' "$out/import.log" \
  || { echo "galaxy-import: no completion line" >&2; exit 1; }
python - "$out/importer_result.json" "$src" <<'PY'
import json, pathlib, sys
result = json.loads(pathlib.Path(sys.argv[1]).read_text())
src = pathlib.Path(sys.argv[2])
documented = {(c["content_type"], c["content_name"]) for c in result["docs_blob"]["contents"] if c.get("doc_strings")}
found = {(c["content_type"], c["name"]) for c in result["contents"]}
want = {("module", p.stem) for p in (src / "plugins/modules").glob("*.py")}
want |= {("filter", p.stem) for p in (src / "plugins/filter").glob("*.yml")}
roles = {("role", p.name) for p in (src / "roles").iterdir() if p.is_dir()}
problems = [f"{t} {n}: no documentation" for t, n in sorted(want - documented)]
problems += [f"{t} {n}: not found" for t, n in sorted(roles - found)]
meta = result["metadata"]
for key in ("license", "repository", "documentation", "issues", "tags"):
    if not meta.get(key):
        problems.append(f"galaxy.yml: no {key}")
if problems:
    sys.exit("galaxy-import: " + "; ".join(problems))
print(f"galaxy-import: {len(want)} modules and filters documented, {len(roles)} roles, "
      f"license {', '.join(meta['license'])}, requires_ansible {result['requires_ansible']}")
PY
