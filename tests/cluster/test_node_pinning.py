"""CPU pinning end to end on the lab VM as a real kubelet node.

After test_node_join.py has checked the freshly joined node, this module tunes
it with `playbooks/tune_nodes.yml` and the lab's node-group profile
(inventories/lab/group_vars/hft_nodes.yml): isolated CPUs, 1 GiB pages on NUMA
node 1, the data NIC on node 1 bound to vfio-pci, and the kubelet's static CPU
manager, topology manager and Static memory manager. Then, on the real
kubelet:

* a Guaranteed pod (integer CPUs, hugepages-1Gi) reports from inside that it
  may run only on isolated CPUs of the NIC's NUMA node and that its hugepage
  came from that node; a BestEffort pod beside it never gets those CPUs, nor
  the reserved ones (strict-cpu-reservation);
* the CPU manager policy goes static -> none -> static through the role without
  the kubelet ever failing;
* a second reboot keeps the binding, the policies and a healthy kubelet, and a
  whole re-tuning run changes nothing, restarts nothing and never cordons.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml

from conftest import (CORDON_TASK, DRAIN_TASK, PROBE_IMAGE, REPO, TAINT, UNCORDON_TASK, boots, labctl, node_object,
                      node_ready, probe_report, run_node_suite, run_tune, task_section, wait_until)

E1000E = ("0x8086", "0x10d3")  # the lab VM's data NIC, on NUMA node 1
GROUP_VARS = REPO / "inventories" / "lab" / "group_vars" / "hft_nodes.yml"
TASK_NAME = re.compile(r"^TASK \[(.*?)\]", re.MULTILINE)


def cpus(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        first, _unused, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def kubelet_state(vm) -> dict:
    out = vm.ssh("cat /var/lib/kubelet/cpu_manager_state; echo; cat /var/lib/kubelet/memory_manager_state;"
                 " echo; systemctl show kubelet -p ActiveState -p NRestarts -p MainPID")
    lines = [line for line in out.splitlines() if line.strip()]
    props = dict(line.split("=", 1) for line in lines[2:])
    return {"cpu": json.loads(lines[0]), "memory": json.loads(lines[1]), **props}


def nic(vm) -> dict:
    """The data NIC as the VM's sysfs shows it."""
    script = (
        "for d in /sys/bus/pci/devices/*; do"
        f" [ \"$(cat $d/vendor)\" = {E1000E[0]} ] && [ \"$(cat $d/device)\" = {E1000E[1]} ] || continue;"
        " echo \"$(basename $d) $(cat $d/numa_node) $(basename $(readlink $d/driver) 2>/dev/null)"
        " $(cat $d/driver_override)\"; done")
    fields = vm.ssh(script).split()
    assert len(fields) >= 3, fields
    return {"pci": fields[0], "numa_node": int(fields[1]), "driver": fields[2],
            "override": fields[3] if len(fields) > 3 else ""}


@pytest.fixture(scope="module")
def topology(joined_vm, tuned) -> dict:
    vm = joined_vm
    data = nic(vm)
    config = yaml.safe_load(vm.ssh("cat /var/lib/kubelet/config.yaml"))
    return {
        "isolated": cpus(vm.ssh("cat /sys/devices/system/cpu/isolated")),
        "nic_node_cpus": cpus(vm.ssh(f"cat /sys/devices/system/node/node{data['numa_node']}/cpulist")),
        "reserved": cpus(config["reservedSystemCPUs"]),
        "nic": data,
    }


def test_tuning_rebooted_once_and_bound_the_nic(joined_vm, tuned, topology):
    assert tuned["recap"]["failed"] == 0 and tuned["recap"]["changed"] > 0
    assert tuned["boots"] == 1, "the tuning run must reboot the node exactly once"
    # A node that changes is cordoned (with the reason) and drained for its turn
    # only, and given back after verify and the latency gate.
    for task in (CORDON_TASK, UNCORDON_TASK):
        assert "changed:" in task_section(tuned["stdout"], task), task
    # (A drain that evicts nothing reports ok.)
    assert "skipping:" not in task_section(tuned["stdout"], DRAIN_TASK)
    assert "TASK [bot4.hft.latency_gate : " in tuned["stdout"]
    now = node_object(joined_vm)
    assert not now["spec"].get("unschedulable")
    assert "hft.bot4.io/tuning" not in now["metadata"].get("annotations", {})
    data = topology["nic"]
    assert data["numa_node"] == 1
    assert data["driver"] == "vfio-pci" and data["override"] == "vfio-pci", data
    group = joined_vm.ssh(f"ls /sys/bus/pci/devices/{data['pci']}/iommu_group/devices").split()
    assert data["pci"] in group


def test_kubelet_runs_the_static_policies_and_never_failed(joined_vm, tuned, topology):
    state = kubelet_state(joined_vm)
    assert state["cpu"]["policyName"] == "static"
    assert state["memory"]["policyName"] == "Static"
    assert state["ActiveState"] == "active" and state["NRestarts"] == "0", state
    config = yaml.safe_load(joined_vm.ssh("cat /var/lib/kubelet/config.yaml"))
    assert config["cpuManagerPolicy"] == "static"
    assert config["cpuManagerPolicyOptions"] == {"full-pcpus-only": "true",
                                                 "strict-cpu-reservation": "true"}
    assert config["topologyManagerPolicy"] == "single-numa-node"
    assert config["memoryManagerPolicy"] == "Static"
    # Merged, not clobbered: the join's settings are all still there.
    assert config["cgroupDriver"] == "systemd"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["evictionHard"]["nodefs.available"] == "5%"
    assert topology["reserved"] and not topology["reserved"] & topology["isolated"]
    assert node_ready(joined_vm)


def test_node_suite_on_the_tuned_node(joined_vm, tuned):
    """The node suite from inside the VM: every planned kernel argument, the
    isolated sets, per-node hugepages, IRQ, PID 1, slice and workqueue affinity,
    sysctls, THP, the DPDK binding, one reboot so far, and the invalid profiles
    each rejected with its own message before anything on the node changed."""
    counts = run_node_suite(joined_vm, "converged", tuned["plan_dir"])
    assert counts["tests"] >= 40, counts


@pytest.fixture(scope="module")
def pods(joined_vm, tuned):
    """A Guaranteed pod with exclusive CPUs and a 1 GiB page, and a BestEffort pod beside it."""
    vm = joined_vm
    ns = f"pin-{uuid.uuid4().hex[:5]}"
    vm.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    common = {"nodeSelector": {"kubernetes.io/hostname": vm.node},
              "tolerations": [{**TAINT, "operator": "Equal"}]}
    exclusive = {"cpu": "2", "memory": "128Mi", "hugepages-1Gi": "1Gi"}
    vm.cluster.apply([
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "guaranteed", "namespace": ns},
         "spec": {**common,
                  # The image runs as 65535 and the hugetlbfs emptyDir is root's.
                  "securityContext": {"runAsUser": 0, "runAsGroup": 0},
                  "containers": [{"name": "probe", "image": PROBE_IMAGE, "imagePullPolicy": "Never",
                                  "args": ["-hugepages-dir", "/hugepages",
                                           "-hugepages-bytes", str(1 << 30)],
                                  "resources": {"requests": exclusive, "limits": exclusive},
                                  "volumeMounts": [{"name": "hugepages", "mountPath": "/hugepages"}]}],
                  "volumes": [{"name": "hugepages", "emptyDir": {"medium": "HugePages-1Gi"}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "besteffort", "namespace": ns},
         "spec": {**common,
                  "containers": [{"name": "probe", "image": PROBE_IMAGE,
                                  "imagePullPolicy": "Never"}]}},
    ])

    try:
        result = {name: wait_until(lambda n=name: probe_report(vm, ns, n), timeout=600, interval=3,
                                   what=f"pod {name} Running with its report")
                  for name in ("guaranteed", "besteffort")}
        result["node_hugepages"] = vm.ssh(
            "for n in /sys/devices/system/node/node[0-9]*; do"
            " echo $(basename $n) $(cat $n/hugepages/hugepages-1048576kB/nr_hugepages)"
            " $(cat $n/hugepages/hugepages-1048576kB/free_hugepages); done")
        result["namespace"] = ns
        yield result
    finally:
        vm.cluster.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=300s", check=False)


def test_guaranteed_pod_gets_isolated_cpus_and_hugepages_on_the_nic_node(pods, topology):
    report = pods["guaranteed"]["report"]
    assert pods["guaranteed"]["pod"]["status"]["qosClass"] == "Guaranteed"
    assert not report.get("hugepage_error"), report
    allowed = cpus(report["cpus_allowed"])
    assert len(allowed) == 2, report
    assert allowed <= topology["isolated"] & topology["nic_node_cpus"], (report, topology)
    assert not allowed & topology["reserved"]
    # The memory manager pins its memory to the NIC's node, and the 1 GiB page
    # it faulted in came from there (numa_maps N<node>=<pages>).
    assert report["mems_allowed"] == str(topology["nic"]["numa_node"]), report
    assert f"N{topology['nic']['numa_node']}=1" in report["hugepage_mapping"], report
    assert "kernelpagesize_kB=1048576" in report["hugepage_mapping"], report
    counts = {line.split()[0]: line.split()[1:] for line in pods["node_hugepages"].splitlines()}
    assert counts[f"node{topology['nic']['numa_node']}"] == ["1", "0"], counts  # taken by the pod


def test_besteffort_pod_stays_off_exclusive_and_reserved_cpus(pods, topology):
    assert pods["besteffort"]["pod"]["status"]["qosClass"] == "BestEffort"
    shared = cpus(pods["besteffort"]["report"]["cpus_allowed"])
    exclusive = cpus(pods["guaranteed"]["report"]["cpus_allowed"])
    assert shared, pods["besteffort"]["report"]
    assert not shared & exclusive, (shared, exclusive)
    # strict-cpu-reservation: the shared pool excludes the reserved CPUs, so it
    # is the isolated CPUs nobody holds exclusively (see README).
    assert not shared & topology["reserved"], (shared, topology["reserved"])
    assert shared <= topology["isolated"]


def test_policy_switches_never_leave_the_kubelet_failing(joined_vm, tuned, pods):
    vm = joined_vm
    # The role drains the node first, and a drain refuses bare pods: the pods
    # above go first.
    vm.cluster.kubectl("delete", "namespace", pods["namespace"], "--wait=true", "--timeout=300s")
    profile = yaml.safe_load(GROUP_VARS.read_text())["hft_profile"]
    pid = kubelet_state(vm)["MainPID"]
    for policy in ("none", "static"):
        changed = json.loads(json.dumps(profile))
        changed.setdefault("kubelet", {})["cpu_manager_policy"] = policy
        run = run_tune(vm, f"policy-{policy}", "--tags", "kubelet", profile=changed)
        assert run["recap"]["changed"] > 0
        state = kubelet_state(vm)
        assert state["cpu"]["policyName"] == policy, state
        assert state["ActiveState"] == "active" and state["NRestarts"] == "0", state
        assert state["MainPID"] != pid, "the kubelet must have been restarted for the switch"
        pid = state["MainPID"]
        assert node_ready(vm)
        assert not node_object(vm)["spec"].get("unschedulable"), "uncordoned after the switch"


def test_second_reboot_keeps_binding_and_policies(joined_vm, tuned, topology):
    vm = joined_vm
    before = boots(vm)
    vm.ssh("systemd-run --on-active=2 systemctl reboot")
    wait_until(lambda: boots(vm) == before + 1, timeout=900, interval=5, what="the VM rebooting")

    def back():
        proc = labctl("ssh", "--name", vm.lab, vm.node, "systemctl is-active kubelet",
                      env=vm.cluster.env, timeout=120)
        return proc.returncode == 0 and proc.stdout.strip() == "active"

    wait_until(back, timeout=900, interval=5, what="SSH and the kubelet after the reboot")
    wait_until(lambda: node_ready(vm), timeout=600, interval=5, what="the node Ready after the reboot")
    data = nic(vm)
    assert data["driver"] == "vfio-pci" and data["override"] == "vfio-pci", data
    state = kubelet_state(vm)
    assert state["cpu"]["policyName"] == "static" and state["memory"]["policyName"] == "Static"
    assert state["NRestarts"] == "0", f"the kubelet failed after the reboot: {state}"
    assert cpus(vm.ssh("cat /sys/devices/system/cpu/isolated")) == topology["isolated"]
    # Housekeeping survives the kubelet's start, which enables the cpuset
    # controller (on kernels before 6.2 that resets every process's affinity):
    # PID 1, the node's services and the kubelet stay on the reserved CPUs.
    for process in ("1", "$(pidof systemd-journald)", "$(pidof -s kubelet)", "$(pidof -s containerd)"):
        allowed = vm.ssh(f"grep Cpus_allowed_list /proc/{process}/status").split()[-1]
        assert cpus(allowed) == topology["reserved"], (process, allowed)

    # Nothing differs now: a whole re-tuning run changes nothing, restarts
    # nothing, never cordons the node and never reboots it. With the plan its
    # last complete run recorded it takes the fast path (no task runs after the
    # comparison); with another plan (the first run's plan was computed before
    # the NIC was bound) every role runs and finds nothing to change.
    pid = state["MainPID"]
    run = run_tune(vm, "noop")
    assert run["recap"]["changed"] == 0, run["stdout"][-3000:]
    tune_play = run["stdout"].split("PLAY [Tune the HFT nodes", 1)[1].split("PLAY RECAP", 1)[0]
    fast = tune_play.split("TASK [End here for a node in its plan", 1)[1].split("\nTASK [", 1)
    if len(fast) == 1 or "skipping:" not in fast[0]:
        assert len(fast) == 1, f"tasks ran after the fast path: {TASK_NAME.findall(fast[1])}"
    else:
        for task in (CORDON_TASK, DRAIN_TASK, UNCORDON_TASK):
            assert "skipping:" in task_section(run["stdout"], task), task
    assert kubelet_state(vm)["MainPID"] == pid
    assert boots(vm) == before + 1
    assert not node_object(vm)["spec"].get("unschedulable")
