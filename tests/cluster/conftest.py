"""Fixtures for tests against the lab Kubernetes cluster (lab/cluster).

`lab_cluster` (session scope) is the cluster every test shares:

* with BOT4_KUBECONFIG set, the cluster that kubeconfig points at is used as it
  is (e.g. one started by `clusterctl.py up`, or a real cluster) and left running;
* otherwise a fresh lab cluster with a unique name is started (in BOT4_LAB_DIR,
  default <repo>/.lab) and stopped at the end of the session, whatever the
  tests did; the teardown fails if any of its processes is left. Its state
  directory is removed when every test passed and kept (logs) otherwise.

The binaries come from `clusterctl.py build` (cached under BOT4_CACHE_DIR; a
cold build compiles Kubernetes from the Go module proxy).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# lab/bot4lab: the package behind labctl.py and clusterctl.py.
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))

import deploy_lab  # noqa: E402
from bot4lab.common import processes_referencing  # noqa: E402

CLUSTERCTL = REPO / "lab" / "cluster" / "clusterctl.py"
LABCTL = REPO / "lab" / "labctl.py"
# The lab's test workload (lab/cluster/images/hft-probe) and the trading nodes' taint.
PROBE_IMAGE = "localhost/bot4/hft-probe:v1"
TAINT = {"key": "hft.bot4.io/dedicated", "value": "trading", "effect": "NoSchedule"}


# The deploy tests' session fixture (test_deploy_lab.py, test_runbook_lab.py).
lab = deploy_lab.lab


def pytest_collection_modifyitems(config, items):
    """Tests on the lab VM as a node (the `joined_vm` fixture) carry the `vm` marker.

    `make test` runs the others (`-m "not vm"`) beside the molecule scenarios,
    which leave a core idle, and the VM tests after them.
    """
    for item in items:
        if "joined_vm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vm)


def run_clusterctl(*args: str, env: dict[str, str] | None = None,
                   timeout: float | None = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CLUSTERCTL), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


@dataclass
class LabCluster:
    """A running cluster and the tools to talk to it."""

    kubeconfig: Path
    kubectl_bin: Path
    bin: dict[str, Path]
    name: str | None = None  # set when this session started the cluster
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                kubeconfig: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(self.kubectl_bin), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, manifest: dict | list) -> None:
        docs = manifest if isinstance(manifest, list) else [manifest]
        self.kubectl("apply", "--server-side", "--field-manager=bot4-tests", "-f", "-",
                     input=yaml.safe_dump_all(docs))

    def clusterctl(self, *args: str, timeout: float | None = 1800) -> subprocess.CompletedProcess:
        return run_clusterctl(*args, env=self.env, timeout=timeout)


def wait_until(check, timeout: float, interval: float = 1.0, what: str = "condition"):
    return deploy_lab.wait_for(check, timeout, what, interval)


@pytest.fixture(scope="session")
def built_bins() -> dict[str, Path]:
    """Paths of the cached binaries, building them first if needed."""
    proc = run_clusterctl("build", timeout=None)  # a cold build may take long
    assert proc.returncode == 0, f"clusterctl build failed:\n{proc.stderr[-4000:]}"
    return {name: Path(path) for name, path in json.loads(proc.stdout)["bin"].items()}


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    """Environment for clusterctl runs of this session."""
    env = dict(os.environ)
    env.setdefault("BOT4_LAB_DIR", str(REPO / ".lab"))
    return env


@pytest.fixture(scope="session")
def lab_cluster(built_bins, lab_env, request) -> LabCluster:
    external = os.environ.get("BOT4_KUBECONFIG")
    if external:
        yield LabCluster(kubeconfig=Path(external), kubectl_bin=built_bins["kubectl"],
                         bin=built_bins, env=lab_env)
        return

    name = f"pytest-{uuid.uuid4().hex[:6]}"
    cluster = LabCluster(kubeconfig=Path(lab_env["BOT4_LAB_DIR"]) / f"cluster-{name}" /
                         "admin.kubeconfig", kubectl_bin=built_bins["kubectl"],
                         bin=built_bins, name=name, env=lab_env)
    try:
        started = time.monotonic()
        proc = cluster.clusterctl("up", "--name", name, "--kwok-nodes", "3")
        assert proc.returncode == 0, f"clusterctl up failed:\n{proc.stderr[-6000:]}"
        assert Path(proc.stdout.strip()) == cluster.kubeconfig
        print(f"\nlab cluster {name} up in {time.monotonic() - started:.1f}s", file=sys.stderr)
        yield cluster
    finally:
        started = time.monotonic()
        purge = ["--purge"] if request.session.testsfailed == 0 else []
        proc = cluster.clusterctl("down", "--name", name, *purge)
        print(f"\nlab cluster {name} down in {time.monotonic() - started:.1f}s", file=sys.stderr)
        left = processes_referencing(Path(lab_env["BOT4_LAB_DIR"]) / f"cluster-{name}")
        assert proc.returncode == 0 and not left, (
            f"clusterctl down left processes {left}:\n{proc.stderr[-3000:]}")


@pytest.fixture
def namespace(lab_cluster, request) -> str:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{request.node.name[:40].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    lab_cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    lab_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


# ------------------------------------------------------------ the lab VM as a node
SSH_CONNECT_ATTEMPTS = 3
# ssh's messages when no session was set up (the remote command never started).
SSH_NOT_CONNECTED = re.compile(r"during banner exchange|connect to host .*: (Connection (timed out|refused)"
                               r"|No route to host)|kex_exchange_identification")


@dataclass
class JoinedVm:
    cluster: LabCluster
    lab: str
    node: str
    join: dict
    timings: dict
    inventory: Path  # the lab's inventory, next to a link to inventories/lab/group_vars
    original_cmdline: str = ""  # /proc/cmdline before any tuning
    original_snapshot: dict = field(default_factory=dict)  # node_snapshot() before any tuning

    def ssh(self, command: str, timeout: float = 300) -> str:
        """Run a command on the node; a connection that was never set up is retried.

        Under TCG with other VMs on the host, sshd in the guest can miss the
        banner exchange. ssh then exits 255 before the command ran, so trying
        again cannot run it twice; any other failure is the command's own.
        """
        for attempt in range(1, SSH_CONNECT_ATTEMPTS + 1):
            proc = subprocess.run([sys.executable, str(LABCTL), "ssh", "--name", self.lab,
                                   self.node, command], capture_output=True, text=True,
                                  timeout=timeout, check=False)
            if proc.returncode != 255 or not SSH_NOT_CONNECTED.search(proc.stderr):
                break
            if attempt < SSH_CONNECT_ATTEMPTS:
                time.sleep(5 * attempt)
        assert proc.returncode == 0, f"ssh {command!r} failed:\n{proc.stderr[-2000:]}"
        return proc.stdout


def node_snapshot(vm: JoinedVm) -> dict:
    """Files, kernel and sysfs values of the node (tests/cluster/node_snapshot.py, run on the node)."""
    script = base64.b64encode((Path(__file__).parent / "node_snapshot.py").read_bytes()).decode()
    return json.loads(vm.ssh(f"echo {script} | base64 -d | python3 -"))


def labctl(*args: str, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def joined_vm(built_bins, lab_env, request) -> JoinedVm:
    name = f"nj-{uuid.uuid4().hex[:6]}"
    lab_dir = Path(lab_env["BOT4_LAB_DIR"])
    vm_state, cluster_state = lab_dir / name, lab_dir / f"cluster-{name}"
    timings: dict[str, float] = {}
    # The inventory labctl writes, beside the lab's group variables (the node
    # group's tuning profile), as molecule's node scenario links them.
    inventory_dir = lab_dir / f".{name}-inventory"
    inventory_dir.mkdir(parents=True, exist_ok=True)
    (inventory_dir / "group_vars").symlink_to(REPO / "inventories" / "lab" / "group_vars")
    inventory = inventory_dir / "hosts.yml"
    # Everything the join copies is built (or found cached) before the VM
    # boots, so a cold Go build never competes with the TCG guest for the CPUs.
    prep = run_clusterctl("build", "--images", "--node", env=lab_env, timeout=None)
    assert prep.returncode == 0, prep.stderr[-3000:]

    started = time.monotonic()
    boot_log = open(cluster_state.parent / f".{name}-boot.log", "w+")
    boot = subprocess.Popen([sys.executable, str(LABCTL), "up", "--name", name, "--nodes", "1",
                             "--timeout", "900", "--inventory", str(inventory)], env=lab_env, stdout=boot_log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    cluster = LabCluster(kubeconfig=cluster_state / "admin.kubeconfig",
                         kubectl_bin=built_bins["kubectl"], bin=built_bins, name=name, env=lab_env)
    try:
        up = run_clusterctl("up", "--name", name, "--kwok-nodes", "2", env=lab_env)
        assert up.returncode == 0, f"clusterctl up failed:\n{up.stderr[-5000:]}"
        timings["cluster_up"] = time.monotonic() - started
        boot.wait(timeout=1200)
        boot_log.seek(0)
        assert boot.returncode == 0, f"labctl up failed:\n{boot_log.read()[-4000:]}"
        timings["vm_boot"] = time.monotonic() - started
        status = json.loads(labctl("status", "--name", name, env=lab_env).stdout)
        assert [n["running"] for n in status["nodes"]] == [True]
        node = status["nodes"][0]["name"]

        t = time.monotonic()
        join = run_clusterctl("join-node", "--name", name, "--lab", name, env=lab_env,
                              timeout=2400)
        assert join.returncode == 0, f"join-node failed:\n{join.stderr[-6000:]}"
        timings["join"] = time.monotonic() - t
        result = json.loads(join.stdout)
        vm = JoinedVm(cluster=cluster, lab=name, node=node, join=result["nodes"][0],
                      timings=timings, inventory=inventory)
        vm.original_cmdline = vm.ssh("cat /proc/cmdline").strip()
        vm.original_snapshot = node_snapshot(vm)
        yield vm
    finally:
        t = time.monotonic()
        if boot.poll() is None:
            boot.terminate()
            boot.wait(timeout=60)
        boot_log.close()
        Path(boot_log.name).unlink(missing_ok=True)
        shutil.rmtree(inventory_dir, ignore_errors=True)
        destroy = labctl("destroy", "--name", name, env=lab_env, timeout=600)
        failed = request.session.testsfailed > 0
        down = run_clusterctl("down", "--name", name, *([] if failed else ["--purge"]),
                              env=lab_env)
        timings["teardown"] = time.monotonic() - t
        timings["total"] = time.monotonic() - started
        print(f"\nnode join {name}: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()),
              file=sys.stderr)
        left_vm = processes_referencing(vm_state)
        left_cluster = processes_referencing(cluster_state)
        assert destroy.returncode == 0, destroy.stderr[-2000:]
        assert down.returncode == 0 and "no process of it remains" in down.stderr, down.stderr
        assert not left_vm, f"QEMU of lab {name} still running: {left_vm}"
        assert not left_cluster, f"processes of cluster {name} still running: {left_cluster}"
        assert not vm_state.exists()


# ------------------------------------------------------------ playbooks against the joined VM
def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of an Ansible run from the tests: this checkout's ansible.cfg, the venv first, no colour."""
    venv_bin = Path(sys.executable).parent
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_NOCOLOR="1", PATH=f"{venv_bin}:{os.environ.get('PATH', '')}", **extra)


def run_playbook(vm: JoinedVm, playbook: str, label: str, *args: str, profile: dict | None = None,
                 inventory: Path | None = None, expect_rc: int | None = 0) -> dict:
    """ansible-playbook playbooks/<playbook> against the VM, with the lab cluster's kubeconfig.

    Returns the return code, the recap per host, the output and the time taken.
    The log and the per-task times (the junit callback) stay beside the inventory;
    the slowest tasks are printed, so a slow run says where its time went.
    """
    venv_bin = Path(sys.executable).parent
    lab_dir = vm.inventory.parent.parent
    extra: list[str] = []
    if profile is not None:
        override = lab_dir / f".{vm.lab}-{label}-profile.json"
        override.write_text(json.dumps({"hft_profile": profile}))
        extra = ["-e", f"@{override}"]
    junit_dir = vm.inventory.parent / f"junit-{label}"
    env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit", JUNIT_OUTPUT_DIR=str(junit_dir),
                      JUNIT_HIDE_TASK_ARGUMENTS="True")
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", str(inventory or vm.inventory),
         str(REPO / "playbooks" / playbook),
         "-e", f"hft_kubeconfig={vm.cluster.kubeconfig}", *extra, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.monotonic() - started
    log = lab_dir / f".{vm.lab}-{label}.log"
    log.write_text(proc.stdout + proc.stderr)
    print(f"\n{playbook} ({label}): rc {proc.returncode} in {elapsed:.0f}s, log {log}; "
          f"slowest tasks: {slowest_tasks(junit_dir)}", file=sys.stderr)
    if expect_rc is not None:
        assert proc.returncode == expect_rc, f"{playbook} ({label}) rc {proc.returncode}:\n{proc.stdout[-6000:]}"
    recaps = {}
    for host, counts in re.findall(r"^(\S+)\s*:\s*(ok=.*)$", proc.stdout.split("PLAY RECAP")[-1],
                                   re.MULTILINE):
        recaps[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    assert vm.node in recaps, proc.stdout[-2000:]
    return {"rc": proc.returncode, "recap": recaps[vm.node], "recaps": recaps,
            "stdout": proc.stdout, "seconds": elapsed}


def slowest_tasks(junit_dir: Path, count: int = 6) -> str:
    times: list[tuple[float, str]] = []
    for report in junit_dir.glob("*.xml"):
        for case in ElementTree.parse(report).iter("testcase"):
            # "[host] play: task" -> "task"
            times.append((float(case.get("time") or 0), case.get("name", "?").split(": ", 1)[-1]))
    times.sort(reverse=True)
    return "; ".join(f"{name[:70]} {t:.0f}s" for t, name in times[:count]) or "none recorded"


# The cordon, drain and uncordon of a tuning run, as ansible-playbook prints
# them: tasks of the bot4.hft.node_drain role that tune_nodes.yml imports.
CORDON_TASK = "bot4.hft.node_drain : Cordon the node and record why"
DRAIN_TASK = "bot4.hft.node_drain : Drain the node"
UNCORDON_TASK = "bot4.hft.node_drain : Uncordon the node and clear the annotation"


def task_section(stdout: str, task: str) -> str:
    """The output of the first task whose name starts with `task` in an ansible-playbook log."""
    assert f"TASK [{task}" in stdout, f"no task {task!r} in the run"
    return stdout.split(f"TASK [{task}", 1)[1].split("\nTASK [", 1)[0]


def run_tune(vm: JoinedVm, label: str, *args: str, profile: dict | None = None, **kw) -> dict:
    return run_playbook(vm, "tune_nodes.yml", label, *args, profile=profile, **kw)


def boots(vm: JoinedVm) -> int:
    status = json.loads(labctl("status", "--name", vm.lab, env=vm.cluster.env).stdout)
    return status["nodes"][0]["boots"]


def node_object(vm: JoinedVm, name: str | None = None) -> dict:
    return vm.cluster.kubectl_json("get", "node", name or vm.node)


def node_ready(vm: JoinedVm) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node_object(vm)["status"]["conditions"])


def probe_report(vm: JoinedVm, ns: str, name: str) -> dict | None:
    """A pod of the hft-probe image (container "probe") on the VM once it is Running and
    ready, with the report it printed first; None before.

    Read in the VM over SSH: the host cannot reach the kubelet, so there is no
    `kubectl logs` here.
    """
    pod = vm.cluster.kubectl_json("get", "pod", name, "-n", ns)
    statuses = pod["status"].get("containerStatuses") or [{}]
    if pod["status"].get("phase") != "Running" or not statuses[0].get("ready"):
        return None
    # The running container's log: a container that failed to start under
    # load and was retried writes to <restartCount>.log, not 0.log.
    log = (f"/var/log/pods/{ns}_{name}_{pod['metadata']['uid']}/probe/"
           f"{statuses[0].get('restartCount', 0)}.log")
    line = vm.ssh(f"head -n 1 {log} 2>/dev/null || true").strip()
    # CRI log format: <time> <stream> <tag> <message>
    return {"pod": pod, "report": json.loads(line.split(" ", 3)[3])} if line else None


@pytest.fixture(scope="session")
def tuned(joined_vm):
    """The joined VM after its first tuning run (the lab profile; one reboot).

    Shared by the pinning and the re-tuning modules: whichever runs first tunes.
    The run's preflight keeps the plan (run["plan_dir"]) for the node suite.
    """
    before = boots(joined_vm)
    plan_dir = joined_vm.inventory.parent / "plans-converged"
    run = run_tune(joined_vm, "tune", "-e", f"preflight_plan_dir={plan_dir}")
    wait_until(lambda: node_ready(joined_vm), timeout=600, interval=5, what="the node Ready")
    run["boots"] = boots(joined_vm) - before
    run["plan_dir"] = plan_dir
    return run


# ------------------------------------------------------------ the node suite (testinfra)
NODE_SUITE = REPO / "molecule" / "node"


def node_suite_scratch(vm: JoinedVm, phase: str) -> Path:
    """The node suite's scratch directory for a phase (its BOT4_NODE_SCRATCH)."""
    path = vm.inventory.parent / f"node-suite-{phase}"
    path.mkdir(exist_ok=True)
    return path


def run_node_suite(vm: JoinedVm, phase: str, plan_dir: Path) -> dict:
    """The node suite (molecule/node/tests, testinfra from inside the VM) on the joined VM.

    `phase` is "converged" (the group's profile: the tests not marked
    after_change) or "changed" (after the profile change: those not marked
    before_change). Fails unless pytest passed and ran at least one test (exit
    5, no test collected, fails too). Returns the junit counts.
    """
    scratch = node_suite_scratch(vm, phase)
    junit = scratch / "junit.xml"
    env = ansible_env(BOT4_NODE_PHASE=phase, BOT4_PLAN_DIR=str(plan_dir), BOT4_LAB_NAME=vm.lab,
                      BOT4_NODE_INVENTORY=str(vm.inventory), BOT4_NODE_SCRATCH=str(scratch),
                      MOLECULE_PROJECT_DIRECTORY=str(REPO))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(NODE_SUITE),
         "-c", str(REPO / "molecule" / "pytest.ini"), "--connection=ansible",
         f"--ansible-inventory={vm.inventory}", "--hosts=ansible://hft_nodes",
         "-m", "not after_change" if phase == "converged" else "not before_change",
         f"--junitxml={junit}", str(NODE_SUITE / "tests")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.monotonic() - started
    (scratch / "pytest.log").write_text(proc.stdout + proc.stderr)
    summary = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"\nnode suite ({phase}): rc {proc.returncode} in {elapsed:.0f}s: {summary[0]}", file=sys.stderr)
    assert proc.returncode == 0, (
        f"node suite ({phase}) exited {proc.returncode} (5: no test collected):\n{proc.stdout[-8000:]}")
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] - counts["skipped"] > 0 and not counts["failures"] and not counts["errors"], counts
    return counts
