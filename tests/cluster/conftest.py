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

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTERCTL = REPO / "lab" / "cluster" / "clusterctl.py"


def load_clusterctl():
    """clusterctl.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("bot4_clusterctl", CLUSTERCTL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bot4_clusterctl", module)
    spec.loader.exec_module(module)
    return module


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
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def clusterctl_module():
    return load_clusterctl()


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
        clusterctl = load_clusterctl()
        left = clusterctl.processes_referencing(Path(lab_env["BOT4_LAB_DIR"]) / f"cluster-{name}")
        assert proc.returncode == 0 and not left, (
            f"clusterctl down left processes {left}:\n{proc.stderr[-3000:]}")


@pytest.fixture
def namespace(lab_cluster, request) -> str:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{request.node.name[:40].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    lab_cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    lab_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
