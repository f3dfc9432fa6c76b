"""The DPDK NIC reaches a non-privileged pod on the lab VM, as a device-plugin resource.

Runs after test_node_pinning.py (file order), on the node it left tuned: the
lab profile's e1000e on NUMA node 1 bound to vfio-pci. The device plugin is
the production overlay's (k8s/components/dpdk) as the lab deploys it: the
lab inventory's patch swaps in the lab-only stand-in image
(lab/cluster/images/vfio-device-plugin), and its config is narrowed to the
devices of the node's own plan (the tuning run's preflight kept it) by the
function the cluster_deploy role uses. Then, on the real kubelet:

* the plugin's pod runs on the VM and the node advertises the NIC as
  hft.bot4.io/dpdk_nic in capacity and allocatable;
* a non-privileged pod requesting one gets /dev/vfio/vfio and
  /dev/vfio/<iommu group of the NIC> (both open read-write from inside) and
  PCIDEVICE_HFT_BOT4_IO_DPDK_NIC=<its PCI address>; a pod beside it without
  the request gets neither; a second request stays Pending (one NIC).

Everything is removed at the end, before the later modules drain and re-tune
the node.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid

import pytest

from conftest import PROBE_IMAGE, REPO, TAINT, node_object, probe_report, wait_until
from test_node_pinning import nic

sys.path.insert(0, str(REPO / "tests" / "k8s"))
from k8s_static import lab_render, tool  # noqa: E402

RESOURCE = "hft.bot4.io/dpdk_nic"
ENV_NAME = "PCIDEVICE_HFT_BOT4_IO_DPDK_NIC"


def device_plugin_module():
    """plugins/module_utils/device_plugin.py (pure, no Ansible import), as the role's filter calls it."""
    path = REPO / "plugins" / "module_utils" / "device_plugin.py"
    spec = importlib.util.spec_from_file_location("bot4_device_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_pod(vm, ns: str, name: str, nics: int) -> dict:
    """hft-probe on the VM, non-privileged (no capability, no escalation), requesting `nics` DPDK NICs."""
    resources = {"requests": {RESOURCE: str(nics)}, "limits": {RESOURCE: str(nics)}} if nics else {}
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": vm.node},
            "tolerations": [{**TAINT, "operator": "Equal"}],
            # UID 0 without any capability: the group's device node is root's
            # (0600), so only its owner may open it; DPDK images run so too.
            "securityContext": {"runAsUser": 0, "runAsGroup": 0},
            "containers": [{"name": "probe", "image": PROBE_IMAGE, "imagePullPolicy": "Never",
                            "resources": resources,
                            "securityContext": {"privileged": False, "allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}}}],
        },
    }


@pytest.fixture(scope="module")
def dpdk(joined_vm, tuned, tmp_path_factory):
    vm = joined_vm
    data = nic(vm)
    assert data["driver"] == "vfio-pci", data
    group = vm.ssh(f"basename $(readlink /sys/bus/pci/devices/{data['pci']}/iommu_group)").strip()
    plan = json.loads((tuned["plan_dir"] / f"{vm.node}.json").read_text())["plan"]

    docs = lab_render(tool("kustomize"), tmp_path_factory.mktemp("dpdk-render"))
    docs = device_plugin_module().narrow(docs, plan["dpdk"]["devices"])
    ns = f"dpdk-{uuid.uuid4().hex[:5]}"
    # The plugin's DaemonSet, its ServiceAccount and config, in a namespace of
    # their own with production's labels (Pod Security "privileged").
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    wanted = {("DaemonSet", ds["metadata"]["name"]), ("ServiceAccount", pod["serviceAccountName"])}
    wanted |= {("ConfigMap", v["configMap"]["name"]) for v in pod["volumes"] if "configMap" in v}
    keep = []
    for doc in docs:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = ns
        elif (doc["kind"], doc["metadata"]["name"]) in wanted:
            doc["metadata"]["namespace"] = ns
        else:
            continue
        keep.append(doc)
    assert len(keep) == 4, [(d["kind"], d["metadata"]["name"]) for d in keep]
    try:
        vm.cluster.apply(keep)

        def plugin_running():
            pods = vm.cluster.kubectl_json("get", "pods", "-n", ns, "--field-selector",
                                           f"spec.nodeName={vm.node}")["items"]
            return pods if pods and all(p["status"].get("phase") == "Running" for p in pods) else None

        def advertised():
            node = node_object(vm)
            return node if node["status"]["allocatable"].get(RESOURCE) else None

        plugin_pods = wait_until(plugin_running, timeout=600, interval=3, what="the device plugin Running on the VM")
        node = wait_until(advertised, timeout=300, interval=3, what=f"the node advertising {RESOURCE}")
        # Both probes at once (their starts overlap), then one more request.
        vm.cluster.apply([probe_pod(vm, ns, "vfio", 1), probe_pod(vm, ns, "plain", 0)])
        result = {name: wait_until(lambda n=name: probe_report(vm, ns, n), timeout=600, interval=3,
                                   what=f"pod {name} Running with its report")
                  for name in ("vfio", "plain")}
        vm.cluster.apply(probe_pod(vm, ns, "second", 1))

        def unscheduled():
            conditions = vm.cluster.kubectl_json("get", "pod", "second", "-n", ns)["status"].get("conditions", [])
            return next((c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"), None)

        second = wait_until(unscheduled, timeout=120, interval=2, what="the second request left unscheduled")
        plugin_log = vm.ssh(f"cat /var/log/pods/{ns}_{plugin_pods[0]['metadata']['name']}_"
                            f"{plugin_pods[0]['metadata']['uid']}/*/*.log")
        yield {"nic": data, "group": group, "plan": plan, "daemonset": ds, "node": node,
               "plugin_pods": plugin_pods, "plugin_log": plugin_log, "second": second, **result}
    finally:
        vm.cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=300s", check=False)


def test_device_plugin_runs_on_the_node_and_advertises_the_nic(dpdk):
    (plugin,) = dpdk["daemonset"]["spec"]["template"]["spec"]["containers"]
    assert plugin["image"] == "localhost/bot4/vfio-device-plugin:v1"
    assert len(dpdk["plugin_pods"]) == 1, "one plugin pod on the node"
    status = dpdk["node"]["status"]
    assert status["capacity"][RESOURCE] == status["allocatable"][RESOURCE] == "1", status["allocatable"]
    # The stand-in registered and advertised the plan's NIC, and nothing else.
    assert f"{RESOURCE}: registered with the kubelet" in dpdk["plugin_log"], dpdk["plugin_log"][-2000:]
    assert f"advertised 1 device(s): [{dpdk['nic']['pci']}]" in dpdk["plugin_log"], dpdk["plugin_log"][-2000:]
    assert [d["pci"] for d in dpdk["plan"]["dpdk"]["devices"] if d["target_driver"] == "vfio-pci"] == [
        dpdk["nic"]["pci"]]


def test_non_privileged_pod_gets_the_nics_vfio_group(dpdk):
    pod, report = dpdk["vfio"]["pod"], dpdk["vfio"]["report"]
    ctr = pod["spec"]["containers"][0]
    assert ctr["securityContext"]["privileged"] is False and ctr["securityContext"]["capabilities"] == {
        "drop": ["ALL"]}
    assert ctr["resources"]["limits"][RESOURCE] == "1"
    # /dev/vfio/vfio and the NIC's IOMMU group, both usable from inside; nothing else of /dev/vfio.
    assert report.get("vfio") == {"vfio": "ok", dpdk["group"]: "ok"}, report
    assert report.get("pcidevice_env") == {ENV_NAME: dpdk["nic"]["pci"]}, report
    # The allocation the kubelet checkpointed for the pod.
    assert f"allocated [{dpdk['nic']['pci']}]" in dpdk["plugin_log"], dpdk["plugin_log"][-2000:]


def test_pod_without_the_request_gets_no_vfio_device(dpdk):
    report = dpdk["plain"]["report"]
    assert not report.get("vfio") and not report.get("pcidevice_env"), report


def test_one_nic_serves_one_pod(dpdk):
    assert dpdk["second"]["reason"] == "Unschedulable", dpdk["second"]
    assert f"Insufficient {RESOURCE}" in dpdk["second"]["message"], dpdk["second"]
