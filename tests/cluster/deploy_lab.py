"""The lab for the deploy tests: the engine's overlays and the project's
playbooks against the lab cluster (tests/cluster/conftest.py: `lab_cluster`).

`lab` (session scope, shared by test_deploy_lab.py and test_runbook_lab.py)
adds kwok nodes so that production's 5 engines (one per node, required
anti-affinity) plus a canary fit, installs the upstream CRDs server-side
(shared/crds: External Secrets Operator v2.9.0, prometheus-operator v0.93;
without shared/ the tests fail under CI=true or BOT4_REQUIRE_SHARED=1 and are
skipped, saying so, elsewhere), pre-binds a volume for each environment's
journal PVC, and removes all of it at the end of the session.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "k8s"))
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))
from bot4lab.cluster.kwok import fleet_nodes  # noqa: E402
from k8s_static import ansible_playbook, require_shared  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "production")
NAMESPACES = {"dev": "bot4-trading-dev", "staging": "bot4-trading-staging", "production": "bot4-trading"}
EXTRA_NODES = 4  # with the fixture's 3: 7 nodes = 5 engines + canary + spare
CRDS = (
    "crds/external-secrets-v2.9.0.yaml",
    "crds/monitoring.coreos.com_servicemonitors.yaml",
    "crds/monitoring.coreos.com_prometheusrules.yaml",
    "crds/monitoring.coreos.com_podmonitors.yaml",
)
DIGEST_A = "bot4/trading-engine@sha256:" + "a" * 64
DIGEST_B = "bot4/trading-engine@sha256:" + "b" * 64
DIGEST_C = "bot4/trading-engine@sha256:" + "c" * 64
CIDRS = "203.0.113.0/24,198.51.100.0/24"
CRD_PLAYBOOK = """
- name: Install the CRDs the overlays use
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the CRD bundles
      ansible.builtin.include_role:
        name: bot4.hft.cluster_deploy
        tasks_from: crds
"""


def wait_for(check, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def journal_volume(env_name: str) -> dict:
    """The PersistentVolume pre-bound to an environment's journal PVC (no provisioner in the lab)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"bot4-lab-journal-{env_name}"},
        "spec": {"capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteMany"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                 "hostPath": {"path": f"/var/lib/bot4-lab/{env_name}"},
                 "claimRef": {"namespace": NAMESPACES[env_name], "name": "bot4-trading-engine-journal"}},
    }


def recap(output: str) -> dict[str, int]:
    tail = output.split("PLAY RECAP", 1)[1]
    match = re.search(r"bot4-\w+\s*:\s*(.*)", tail)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


class Lab:
    """Runs the project's playbooks against the lab cluster."""

    def __init__(self, cluster, tmp: Path):
        self.cluster = cluster
        self.tmp = tmp
        self.api_key = secrets.token_hex(16)
        self.api_secret = secrets.token_hex(32)

    def env(self, image: str) -> dict[str, str]:
        return {
            "BOT4_KUBECONFIG": str(self.cluster.kubeconfig),
            "BOT4_ENGINE_IMAGE": image,
            "BOT4_EXCHANGE_CIDRS": CIDRS,
            "BOT4_BINANCE_API_KEY": self.api_key,
            "BOT4_BINANCE_API_SECRET": self.api_secret,
            # No prometheus-adapter and no ESO controller in the lab: the HPA's
            # custom metric is dropped (production's inventory reads these).
            "BOT4_CUSTOM_METRICS": "drop",
            "BOT4_VERIFY_EXTERNAL_SECRETS": "false",
        }

    def play(self, playbook: str, env_name: str, *args: str, image: str = DIGEST_A,
             extra: dict | None = None, check: bool = False,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        # No ESO controller in the lab: do not wait for the sync.
        # No Prometheus scrapes kwok's engines: the canary's latency gate is
        # off unless a test turns it on.
        settings = {"external_secrets_verify": False, "cluster_deploy_wait_timeout": 180,
                    "cluster_deploy_canary_latency_gate": False,
                    "cluster_deploy_canary_analysis_seconds": 6,
                    "cluster_deploy_canary_analysis_interval": 3,
                    "cluster_deploy_canary_timeout": 60, **(extra or {})}
        # None drops a setting, so the inventory's (or the role's) default applies.
        settings = {k: v for k, v in settings.items() if v is not None}
        varsfile = self.tmp / f"vars-{time.monotonic_ns()}.json"
        varsfile.write_text(json.dumps(settings))
        argv = ["-i", f"inventories/{env_name}", f"playbooks/{playbook}.yml", "-e", f"@{varsfile}", *args]
        if check:
            argv.append("--check")
        proc = ansible_playbook(*argv, env={**self.env(image), **(env or {})})
        # Generated credentials must never reach the output.
        for value in (self.api_key, self.api_secret):
            assert value not in proc.stdout + proc.stderr, "a secret value was printed"
        return proc

    def ok(self, *a, **kw) -> subprocess.CompletedProcess:
        proc = self.play(*a, **kw)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        return proc

    def get(self, *args: str) -> dict:
        return self.cluster.kubectl_json("get", *args)

    def exists(self, *args: str) -> bool:
        return self.cluster.kubectl("get", *args, "-o", "name", check=False).returncode == 0

    def deployment(self, env_name: str, name: str = "bot4-trading-engine") -> dict:
        return self.get("-n", NAMESPACES[env_name], "deployment", name)

    def wait_available(self, env_name: str, replicas: int, timeout: float = 180):
        def ready():
            d = self.deployment(env_name)
            s = d.get("status", {})
            return (d["spec"].get("replicas") == replicas
                    and s.get("availableReplicas") == replicas
                    and s.get("updatedReplicas") == replicas
                    and any(c["type"] == "Available" and c["status"] == "True"
                            for c in s.get("conditions", [])))
        wait_for(ready, timeout, f"{NAMESPACES[env_name]} engine Available with {replicas} replicas")


@pytest.fixture(scope="session")
def lab(lab_cluster, tmp_path_factory):
    """The lab cluster ready for the deploy playbooks (see the module docstring)."""
    crd_paths = [require_shared(p) for p in CRDS]
    cluster = lab_cluster
    version = cluster.kubectl_json("version")["serverVersion"]["gitVersion"]
    existing = {n["metadata"]["name"] for n in cluster.kubectl_json("get", "nodes")["items"]}
    nodes = [n for n in fleet_nodes(len(existing) + EXTRA_NODES + 3, version)
             if n["metadata"]["name"] not in existing][:EXTRA_NODES]
    added = [n["metadata"]["name"] for n in nodes]
    try:
        cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
        # The CRDs go in through the role's own entry point (server-side apply).
        tmp = tmp_path_factory.mktemp("crds")
        (tmp / "crds.yml").write_text(CRD_PLAYBOOK)
        # One pre-bound volume per environment for the journal PVC (no
        # provisioner in the lab), through the same entry point.
        volumes = [journal_volume(e) for e in ENVIRONMENTS]
        (tmp / "vars.json").write_text(json.dumps({
            "cluster_deploy_kubeconfig": str(cluster.kubeconfig),
            "cluster_deploy_crd_files": [str(p) for p in crd_paths],
            "cluster_deploy_prerequisite_manifests": volumes}))
        proc = ansible_playbook("-i", "localhost,", "-c", "local", str(tmp / "crds.yml"),
                                "-e", f"@{tmp / 'vars.json'}",
                                "-e", "ansible_python_interpreter={{ ansible_playbook_python }}")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        for crd in ("externalsecrets.external-secrets.io", "secretstores.external-secrets.io",
                    "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
            assert cluster.kubectl("get", "crd", crd, check=False).returncode == 0, crd
        for e in ENVIRONMENTS:
            assert cluster.kubectl("get", "pv", f"bot4-lab-journal-{e}", check=False).returncode == 0, e

        def tuned_ready():
            items = cluster.kubectl_json("get", "nodes", "-l", "hft.bot4.io/tuned=true")["items"]
            return sum(1 for n in items for c in n["status"].get("conditions", [])
                       if c["type"] == "Ready" and c["status"] == "True") >= len(existing) + EXTRA_NODES - 1
        wait_for(tuned_ready, 120, "the added kwok nodes to be Ready")
        yield Lab(cluster, tmp_path_factory.mktemp("deploy"))
    finally:
        for e in ENVIRONMENTS:
            cluster.kubectl("delete", "namespace", NAMESPACES[e], "--ignore-not-found", "--wait=false", check=False)
            cluster.kubectl("delete", "priorityclass", f"bot4-trading-engine-{e}", "--ignore-not-found", check=False)
            cluster.kubectl("delete", "pv", f"bot4-lab-journal-{e}", "--ignore-not-found", "--wait=false", check=False)
        if added:
            cluster.kubectl("delete", "node", *added, "--ignore-not-found", check=False)
