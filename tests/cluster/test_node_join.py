"""The lab VM as a real kubelet node of the lab cluster, from nothing.

One module-scoped fixture boots a lab VM (labctl, a name of its own) while it
starts a lab cluster of its own (joining needs the lab CA, so this never uses
BOT4_KUBECONFIG), joins the VM with `clusterctl.py join-node`, and at the end
destroys the VM, stops the cluster and asserts that no process of either is
left. One VM boot, no reboot: this runs in `make test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import REPO, LabCluster, run_clusterctl, wait_until

LABCTL = REPO / "lab" / "labctl.py"
PROBE_IMAGE = "localhost/bot4/hft-probe:v1"
TAINT = {"key": "hft.bot4.io/dedicated", "value": "trading", "effect": "NoSchedule"}


@dataclass
class JoinedVm:
    cluster: LabCluster
    lab: str
    node: str
    join: dict
    timings: dict

    def ssh(self, command: str, timeout: float = 300) -> str:
        proc = subprocess.run([sys.executable, str(LABCTL), "ssh", "--name", self.lab,
                               self.node, command], capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert proc.returncode == 0, f"ssh {command!r} failed:\n{proc.stderr[-2000:]}"
        return proc.stdout


def labctl(*args: str, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LABCTL), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def joined_vm(built_bins, lab_env, clusterctl_module, request) -> JoinedVm:
    name = f"nj-{uuid.uuid4().hex[:6]}"
    lab_dir = Path(lab_env["BOT4_LAB_DIR"])
    vm_state, cluster_state = lab_dir / name, lab_dir / f"cluster-{name}"
    timings: dict[str, float] = {}
    # Everything the join copies is built (or found cached) before the VM
    # boots, so a cold Go build never competes with the TCG guest for the CPUs.
    prep = run_clusterctl("build", "--images", "--node", env=lab_env, timeout=None)
    assert prep.returncode == 0, prep.stderr[-3000:]

    started = time.monotonic()
    boot_log = open(cluster_state.parent / f".{name}-boot.log", "w+")
    boot = subprocess.Popen([sys.executable, str(LABCTL), "up", "--name", name, "--nodes", "1",
                             "--timeout", "900"], env=lab_env, stdout=boot_log,
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
        yield JoinedVm(cluster=cluster, lab=name, node=node, join=result["nodes"][0],
                       timings=timings)
    finally:
        t = time.monotonic()
        if boot.poll() is None:
            boot.terminate()
            boot.wait(timeout=60)
        boot_log.close()
        Path(boot_log.name).unlink(missing_ok=True)
        destroy = labctl("destroy", "--name", name, env=lab_env, timeout=600)
        failed = request.session.testsfailed > 0
        down = run_clusterctl("down", "--name", name, *([] if failed else ["--purge"]),
                              env=lab_env)
        timings["teardown"] = time.monotonic() - t
        timings["total"] = time.monotonic() - started
        print(f"\nnode join {name}: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()),
              file=sys.stderr)
        left_vm = clusterctl_module.processes_referencing(vm_state)
        left_cluster = clusterctl_module.processes_referencing(cluster_state)
        assert destroy.returncode == 0, destroy.stderr[-2000:]
        assert down.returncode == 0 and "no process of it remains" in down.stderr, down.stderr
        assert not left_vm, f"QEMU of lab {name} still running: {left_vm}"
        assert not left_cluster, f"processes of cluster {name} still running: {left_cluster}"
        assert not vm_state.exists()


def test_kwok_nodes_and_the_vm_are_ready(joined_vm):
    nodes = {n["metadata"]["name"]: n for n in joined_vm.cluster.kubectl_json("get", "nodes")["items"]}
    ready = {name for name, n in nodes.items()
             if any(c["type"] == "Ready" and c["status"] == "True"
                    for c in n["status"]["conditions"])}
    assert {"kwok-trading-0", "kwok-trading-1", joined_vm.node} <= ready, ready
    vm = nodes[joined_vm.node]
    info = vm["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"] == "containerd://2.4.2"
    assert info["kubeletVersion"] == joined_vm.cluster.kubectl_json("version")["serverVersion"][
        "gitVersion"]
    assert "kwok.x-k8s.io/node" not in vm["metadata"].get("annotations", {})
    # Registered as a dedicated trading node, but not (yet) as a tuned one.
    assert TAINT in vm["spec"]["taints"]
    labels = vm["metadata"]["labels"]
    assert labels["hft.bot4.io/node-group"] == "trading"
    assert "hft.bot4.io/tuned" not in labels
    assert vm["spec"]["podCIDR"] == joined_vm.join["pod_cidr"]


def test_node_has_kubeadm_style_kubelet_config(joined_vm):
    config = yaml.safe_load(joined_vm.ssh("cat /var/lib/kubelet/config.yaml"))
    assert config["kind"] == "KubeletConfiguration"
    assert config["cgroupDriver"] == "systemd"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    active = joined_vm.ssh("systemctl is-active containerd kubelet; systemctl is-enabled kubelet")
    assert active.split() == ["active", "active", "enabled"]
    # The node's identity is its own client certificate, not the admin's.
    subject = joined_vm.ssh(
        "grep client-certificate-data /etc/kubernetes/kubelet.conf | awk '{print $2}'"
        " | base64 -d | openssl x509 -noout -subject")
    assert f"CN = system:node:{joined_vm.node}" in subject and "O = system:nodes" in subject


def test_pod_runs_on_the_vm_and_its_process_is_in_the_vm(joined_vm):
    cluster, node = joined_vm.cluster, joined_vm.node
    ns = f"nj-{uuid.uuid4().hex[:5]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    cluster.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": ns},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{**TAINT, "operator": "Equal"}],
            "containers": [{"name": "probe", "image": PROBE_IMAGE, "imagePullPolicy": "Never"}],
        },
    })
    started = time.monotonic()

    def running():
        pod = cluster.kubectl_json("get", "pod", "probe", "-n", ns)
        statuses = pod["status"].get("containerStatuses") or [{}]
        return pod if pod["status"].get("phase") == "Running" and statuses[0].get("ready") else None

    pod = wait_until(running, timeout=600, interval=3, what="the probe pod Running on the VM")
    print(f"\nprobe pod Running on {node} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    assert pod["spec"]["nodeName"] == node
    container_id = pod["status"]["containerStatuses"][0]["containerID"]
    assert container_id.startswith("containerd://")
    container_id = container_id.split("://", 1)[1]
    uid = pod["metadata"]["uid"].replace("-", "_")

    # Inside the VM: the container's process, in the pod's systemd cgroup.
    listing = joined_vm.ssh(
        "for p in $(pgrep -x hft-probe); do"
        " echo \"$p $(tr '\\0' ' ' < /proc/$p/cmdline)| $(cat /proc/$p/cgroup)\"; done")
    rows = [line for line in listing.splitlines()
            if f"pod{uid}.slice" in line and f"cri-containerd-{container_id}.scope" in line]
    assert len(rows) == 1, listing
    pid, rest = rows[0].split(" ", 1)
    assert rest.startswith("/hft-probe ")
    assert "kubepods.slice" in rest  # cgroupDriver systemd
    # No CPU manager policy yet: a BestEffort container may use every CPU of the VM.
    allowed = joined_vm.ssh(f"grep Cpus_allowed_list /proc/{pid}/status").split()[-1]
    assert allowed == joined_vm.ssh("cat /sys/devices/system/cpu/online").strip()
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
