"""The platform's runbook, as written in docs/deploy.md, against a production
deploy on the lab cluster's API server.

The commands are read from the block after `<!-- runbook -->` in
docs/deploy.md, so the document and this test cannot drift, and each one runs
in order with bash from the top of the checkout, with the lab's kubectl and
the pinned kustomize first on PATH and KUBECONFIG at the lab cluster. Nothing
is substituted: the runbook names no pod (its `kubectl logs` selects by
label). kwok's nodes run no container and the API server cannot reach a
kubelet (lab/cluster/README.md), so `kubectl logs` and `kubectl port-forward`
run up to the kubelet: the test checks that they resolved the engine's pods
and Service, then reports the rest as skipped with that reason.

After `kubectl scale --replicas=0` and `kubectl delete deployment`, resume.yml
and deploy.yml bring the engine back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from deploy_lab import DIGEST_A, NAMESPACES, REPO, journal_volume, wait_for

sys.path.insert(0, str(REPO / "tests" / "k8s"))
from k8s_static import tool  # noqa: E402

NS = NAMESPACES["production"]
DOC = REPO / "docs" / "deploy.md"
# Files the runbook writes at the top of the checkout (ignored by git).
WRITTEN = ("manifest.yaml", "backup.yaml")


def runbook_commands() -> list[str]:
    text = DOC.read_text()
    block = re.search(r"<!-- runbook -->\n```sh\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no runbook block"
    return [line for line in block.group(1).splitlines() if line.strip()]


COMMANDS = runbook_commands()


class Runbook:
    def __init__(self, lab, bindir: Path):
        self.lab = lab
        self.env = {**os.environ, **lab.env(DIGEST_A), "KUBECONFIG": str(lab.cluster.kubeconfig),
                    "PATH": f"{bindir}:{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def run(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        started = time.monotonic()
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        print(f"\n$ {command}\nrc {proc.returncode} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        return proc

    def engine(self) -> dict:
        return self.lab.get("-n", NS, "deployment", "bot4-trading-engine")

    def image(self) -> str:
        return self.engine()["spec"]["template"]["spec"]["containers"][0]["image"]

    def back(self, replicas: int = 5):
        self.lab.wait_available("production", replicas, timeout=240)


@pytest.fixture(scope="module")
def runbook(lab, tmp_path_factory):
    """A fresh production deploy by deploy.yml: a new namespace, so revisions start at 1."""
    cluster = lab.cluster
    cluster.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=300)
    # The journal volume was bound to the deleted claim: offer it again.
    cluster.kubectl("delete", "pv", "bot4-lab-journal-production", "--ignore-not-found", "--wait=true")
    cluster.apply(journal_volume("production"))
    lab.ok("deploy", "production")
    lab.wait_available("production", 5)
    bindir = tmp_path_factory.mktemp("runbook-bin")
    (bindir / "kubectl").symlink_to(cluster.kubectl_bin)
    (bindir / "kustomize").symlink_to(tool("kustomize"))
    try:
        yield Runbook(lab, bindir)
    finally:
        for name in WRITTEN:
            (REPO / name).unlink(missing_ok=True)


def _index(prefix: str) -> int:
    (i,) = [i for i, c in enumerate(COMMANDS) if c.startswith(prefix)]
    return i


def test_the_runbook_is_the_platform_s():
    """The block holds the platform README's 16 commands, names as the platform has them."""
    assert len(COMMANDS) == 16, COMMANDS
    joined = "\n".join(COMMANDS)
    for name in ("bot4-trading", "bot4-trading-engine", "trading-engine=bot4/trading-engine:v0.4.0",
                 "svc/bot4-trading-service", "-l app=bot4", "exchange-credentials"):
        assert name in joined, name


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{i:02d}-{' '.join(c.split()[:3])}" for i, c in enumerate(COMMANDS)])
def test_runbook_command(runbook, command):
    lab = runbook.lab
    if command.startswith(("kubectl logs", "kubectl port-forward")):
        proc = runbook.run(f"timeout 60 {command}")
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out
        pods = lab.get("-n", NS, "pods", "-l", "app=bot4")["items"]
        assert pods and all(p["spec"].get("nodeName") for p in pods)
        # Resolved: the API server asked the node of an engine pod (kwok answers
        # for the kubelet: no such container) or tried to open the stream to it;
        # it did not fail on the namespace, the selector or the Service.
        if command.startswith("kubectl logs"):
            assert re.search(r"\(NotFound\).*pods/log bot4-trading-engine-[a-z0-9]+-[a-z0-9]+\)", out), out
        else:
            assert "upgrade connection" in out and "not found" not in out.lower(), out
        pytest.skip(f"needs a running container: the engine pod was found and the API server went to its node, "
                    f"which runs none ({out.strip().splitlines()[-1]}); kwok's nodes run no container and the lab's "
                    f"API server cannot reach a kubelet's streams (lab/cluster/README.md)")

    before = runbook.engine() if lab.exists("-n", NS, "deployment", "bot4-trading-engine") else None
    proc = runbook.run(command)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"

    if command.startswith("kubectl create secret"):
        sec = lab.get("-n", NS, "secret", "exchange-credentials")
        assert sorted(sec["data"]) == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    elif command.startswith(("kubectl apply -k", "kustomize build")):
        assert runbook.image() == "bot4/trading-engine:production"
        assert runbook.engine()["spec"]["template"]["metadata"]["labels"]["app"] == "bot4"
        if command.startswith("kustomize"):
            docs = [d for d in yaml.safe_load_all((REPO / "manifest.yaml").read_text()) if d]
            assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ExternalSecret"} <= {d["kind"] for d in docs}
        runbook.back()
    elif command.startswith("kubectl apply -f k8s/overlays/production/external-secrets.yaml"):
        assert lab.get("-n", NS, "externalsecret", "exchange-credentials")["spec"]["target"]["name"] == \
            "exchange-credentials"
        assert lab.exists("-n", NS, "secretstore", "bot4-secret-store")
    elif command.startswith("./deploy.sh"):
        # The playbook puts the inventory's image (digest) back and fills in the
        # API server's endpoints again.
        assert runbook.image() == DIGEST_A
        pol = lab.get("-n", NS, "networkpolicy", "bot4-trading-engine-egress-apiserver")
        assert pol["spec"]["egress"]
        assert lab.exists("-n", NAMESPACES["staging"], "deployment", "bot4-trading-engine")
        runbook.back()
    elif command.startswith("kubectl get pods"):
        pods, hpa = proc.stdout.split("\nNAME", 1)
        assert sum(1 for line in pods.splitlines() if line.startswith("bot4-trading-engine-")) == 5, pods
        assert "Deployment/bot4-trading-engine" in hpa, hpa
    elif command.startswith("kubectl get events"):
        assert proc.stdout.strip(), "no events"
    elif command.startswith("kubectl set image"):
        assert runbook.image() == "bot4/trading-engine:v0.4.0"
    elif command.startswith("kubectl rollout status"):
        assert "successfully rolled out" in proc.stdout
        runbook.back()
    elif command.startswith("kubectl rollout undo") and "--to-revision" not in command:
        # Back to the template before `set image`: the one deploy.sh applied.
        assert before["spec"]["template"]["spec"]["containers"][0]["image"] == "bot4/trading-engine:v0.4.0"
        assert runbook.image() == DIGEST_A
        runbook.back()
    elif command.startswith("kubectl rollout undo"):
        # Revision 2 is the plain `kubectl apply -k` of the overlay.
        assert runbook.image() == "bot4/trading-engine:production"
        runbook.back()
    elif command.startswith("kubectl get all"):
        kinds = {d["kind"] for d in yaml.safe_load((REPO / "backup.yaml").read_text())["items"]}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "Secret",
                "PersistentVolumeClaim"} <= kinds, kinds
    elif command.startswith("kubectl scale"):
        wait_for(lambda: not lab.get("-n", NS, "pods", "-l", "app=bot4")["items"], 120, "no engine pod")
        assert runbook.engine()["spec"]["replicas"] == 0
        # resume.yml brings it back (the HPA does not: at zero it stops scaling).
        lab.ok("resume", "production")
        runbook.back()
        lab.ok("deploy", "production")
        runbook.back()
    elif command.startswith("kubectl delete deployment"):
        assert not lab.exists("-n", NS, "deployment", "bot4-trading-engine")
        lab.ok("deploy", "production")
        runbook.back()
        resumed = lab.ok("resume", "production")
        assert "is not under an emergency stop; nothing to resume" in resumed.stdout
        runbook.back()
    else:
        pytest.fail(f"no check for {command!r}")
