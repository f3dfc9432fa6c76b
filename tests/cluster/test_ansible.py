"""kubernetes.core against the lab cluster: the pattern later roles use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PLAYBOOK = Path(__file__).parent / "playbooks" / "k8s_apply.yml"


def run_playbook(lab_cluster) -> subprocess.CompletedProcess:
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, K8S_AUTH_KUBECONFIG=str(lab_cluster.kubeconfig),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PATH=f"{venv_bin}:{os.environ.get('PATH', '')}")
    return subprocess.run([str(venv_bin / "ansible-playbook"), "-i", "localhost,",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(PLAYBOOK)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def recap(output: str) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*(.*)", output.split("PLAY RECAP", 1)[1])
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_kubernetes_core_applies_and_is_idempotent(lab_cluster):
    try:
        first = run_playbook(lab_cluster)
        assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
        assert recap(first.stdout)["failed"] == 0
        second = run_playbook(lab_cluster)
        assert second.returncode == 0, second.stdout[-5000:]
        assert recap(second.stdout)["changed"] == 0, second.stdout[-3000:]
        dep = lab_cluster.kubectl_json("get", "-n", "bot4-ansible-check", "deployment",
                                       "engine-sim")
        assert dep["status"]["availableReplicas"] == 2
    finally:
        lab_cluster.kubectl("delete", "namespace", "bot4-ansible-check", "--ignore-not-found",
                            "--wait=false", check=False)
