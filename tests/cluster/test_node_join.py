"""The lab VM as a real kubelet node of the lab cluster, from nothing.

The session fixture `joined_vm` (conftest.py) boots a lab VM while it starts a
lab cluster of its own, joins the VM with `clusterctl.py join-node`, and at the
end of the session destroys both and asserts that nothing is left. These tests
run first on the fresh node (before test_node_pinning.py tunes it).
"""

from __future__ import annotations

import sys
import time
import uuid

import yaml

from conftest import PROBE_IMAGE, TAINT, wait_until


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
