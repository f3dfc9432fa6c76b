#!/usr/bin/env bash
# The test suite of `make test`, phase by phase, with a timing table at the end.
#
#   static      yamllint, ansible-lint (production), unit tests, k8s/ static checks,
#               the collection build-install-resolve check with galaxy-importer and
#               the execution environment's build context, antsibull-docs' lint,
#               ansible-test sanity; in the background, beside the lab build (cold)
#               or the cluster tests (warm)
#   lab build   the lab cluster's binaries and images (Kubernetes from the Go
#               module proxy: cached by content hash under BOT4_CACHE_DIR) and the
#               node image; started first, in the background (niced), so that a
#               cold build overlaps the static checks and, once the control
#               plane's binaries are built, the cluster tests
#   cluster     the cluster tests that need no VM (a real kube-apiserver, kwok);
#               they start as soon as the control plane's binaries are built
#   vm          the cluster tests on one lab VM joined as a kubelet node: join,
#               first tuning run, the node suite from inside (molecule/node/tests),
#               pinning, policy switches, a reboot, the no-op run, drift, a failed
#               run, a profile change, untune. One TCG VM at a time: a second one
#               beside it on two cores makes every remote task several times slower.
#
# A failed static check stops the suite before the VM phase (which would only
# take time);
# the cluster phases each run to their end, so each one cleans up what it
# started. The exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
VBIN=${VBIN:-$PWD/.venv/bin}
PY=$VBIN/python
mkdir -p .cache/test-reports
TABLE=.cache/test-reports/timings.txt
: > "$TABLE"
suite_start=$(date +%s)
status=0

record() {  # phase, seconds, rc
  printf '%-12s %6.1f min   %s\n' "$1" "$(awk "BEGIN{print $2 / 60}")" \
    "$([ "$3" -eq 0 ] && echo ok || echo "FAILED (rc $3)")" >> "$TABLE"
  [ "$3" -eq 0 ] || [ "$status" -ne 0 ] || status=$3
}

table() {
  echo
  echo "== make test: where the time went"
  printf '%-12s %10s   %s\n' phase time result
  cat "$TABLE"
  printf '%-12s %6.1f min\n' total "$(awk "BEGIN{print ($(date +%s) - $suite_start) / 60}")"
}

killtree() {  # a process and all its descendants
  local child
  for child in $(pgrep -P "$1"); do killtree "$child"; done
  kill "$1" 2>/dev/null
}

phase() {  # name, command...
  local name=$1 t rc; shift
  echo "== $(date +%T) $name"
  t=$(date +%s)
  "$@"; rc=$?
  record "$name" $(( $(date +%s) - t )) $rc
  return $rc
}

# The lab build in the background: first the control plane's binaries (all
# the cluster tests need), then the node's (kubelet, containerd, the CNI
# plugins) and the OCI images (clusterctl); beside them the node image
# (labctl; mostly package downloads, beside the CPU-bound Go build). Niced: on
# a cold machine the cluster tests run beside what the VM phase needs.
build_log=.cache/lab-build.log
build_rc=.cache/test-reports/lab-build.rc
controlplane_built=.cache/test-reports/lab-build.controlplane
rm -f "$build_rc" "$controlplane_built"
build_start=$(date +%s)
( ( nice -n 10 "$PY" lab/cluster/clusterctl.py build > "$build_log" 2>&1 || exit
    : > "$controlplane_built"
    nice -n 10 "$PY" lab/cluster/clusterctl.py build --images --node >> "$build_log" 2>&1 ) & go=$!
  nice -n 10 "$PY" lab/labctl.py image >> .cache/lab-image.log 2>&1; img=$?
  wait $go; rc=$?
  [ $img -eq 0 ] || { echo "node image build failed (rc $img), see .cache/lab-image.log" >> "$build_log"; rc=$img; }
  echo "$rc $(( $(date +%s) - build_start ))" > "$build_rc"
  exit $rc ) & build=$!
echo "== $(date +%T) lab build in the background ($build_log)"

# The static checks in the background as well: on a cold machine they overlap
# the lab build, on a warm one the cluster tests. Their output goes to a log,
# printed when they end; a failure stops the suite before the VM phase. The
# node picture's browser check must run here (make host-deps installed
# chromium), not be skipped.
static_log=.cache/test-reports/static.log
static_rc=.cache/test-reports/static.rc
rm -f "$static_rc"
( t=$(date +%s)
  BOT4_REQUIRE_BROWSER=1 make --no-print-directory lint unit k8s-static collection-check docs-lint sanity > "$static_log" 2>&1; rc=$?
  echo "$rc $(( $(date +%s) - t ))" > "$static_rc"
  exit $rc ) & static=$!
echo "== $(date +%T) static checks in the background ($static_log)"

static_recorded=false
static_done() {  # wait for the static checks (once), print their log, record them
  local rc secs
  ! $static_recorded || return 0
  static_recorded=true
  wait "$static"
  read -r rc secs < "$static_rc"
  if [ "$rc" -eq 0 ]; then tail -n 40 "$static_log"; else cat "$static_log"; fi
  record static "$secs" "$rc"
  return "$rc"
}

build_recorded=false
build_done() {  # wait for the whole lab build (once), record it
  local rc secs
  ! $build_recorded || return 0
  build_recorded=true
  wait "$build"
  read -r rc secs < "$build_rc" || { rc=1; secs=$(( $(date +%s) - build_start )); }
  [ "$rc" -eq 0 ] || tail -n 50 "$build_log"
  record "lab build" "$secs" "$rc"
  return "$rc"
}

stop() {  # end the suite early: the background jobs go first
  killtree "$build"; killtree "$static"
  wait "$build" "$static" 2>/dev/null
  table
  exit "$status"
}

t=$(date +%s)
echo "== $(date +%T) waiting for the control plane's binaries"
while [ ! -e "$controlplane_built" ] && kill -0 "$build" 2>/dev/null; do sleep 2; done
if [ ! -e "$controlplane_built" ]; then build_done; stop; fi
echo "   (waited $(( $(date +%s) - t )) s for them)"
# Static checks that failed already: stop here.
if [ -f "$static_rc" ] && ! static_done; then stop; fi

phase cluster "$VBIN/pytest" tests/cluster -m "not vm" --durations=15
# The static checks must have passed, and the lab build ended, before the VM
# phase takes its time.
t=$(date +%s)
echo "== $(date +%T) waiting for the lab build"
if ! build_done; then stop; fi
echo "   (waited $(( $(date +%s) - t )) s for it)"
if ! static_done; then stop; fi
phase vm "$VBIN/pytest" tests/cluster -m "vm and not realtime" --durations=30

table
exit "$status"
