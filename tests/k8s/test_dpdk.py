"""DPDK NICs reach the engine as a device-plugin resource (k8s/components/dpdk).

The production render ships the SR-IOV network device plugin (DaemonSet and
config) and the engine requests the resource it advertises; the
cluster_deploy role narrows the plugin's config to the node plans' devices
(here the golden plans of tests/unit/golden); the lab swaps in its stand-in
image and its kwok nodes advertise the same resource."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from k8s_static import REPO, ansible_playbook, find, lab_render

GOLDEN = REPO / "tests" / "unit" / "golden"
RESOURCE = "hft.bot4.io/dpdk_nic"
UPSTREAM_IMAGE = "ghcr.io/k8snetworkplumbingwg/sriov-network-device-plugin:"


def plugin_parts(docs):
    """The device plugin's DaemonSet, its config.json (parsed) and the ConfigMap holding it."""
    ds = find(docs, "DaemonSet", "sriov-device-plugin")
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (ctr,) = pod["containers"]
    (mount,) = [m for m in ctr["volumeMounts"] if m["mountPath"] == "/etc/pcidp"]
    cm = find(docs, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
    return ds, json.loads(cm["data"]["config.json"]), cm


def engine_container(docs):
    dep = find(docs, "Deployment", "bot4-trading-engine")
    containers = dep["spec"]["template"]["spec"]["containers"]
    # The component's patch merges by container name: a name it does not
    # match would add a second container instead.
    assert len(containers) == 1, [c["name"] for c in containers]
    return containers[0]


def test_production_ships_the_device_plugin_and_the_engine_requests_its_resource(rendered):
    docs = rendered["production"]
    ds, config, cm = plugin_parts(docs)
    (res,) = config["resourceList"]
    assert f"{res['resourcePrefix']}/{res['resourceName']}" == RESOURCE
    assert res["selectors"]["drivers"] == ["vfio-pci"]
    ctr = engine_container(docs)
    assert ctr["resources"]["requests"][RESOURCE] == ctr["resources"]["limits"][RESOURCE] == "1"
    # The real plugin, pinned, as upstream runs it.
    pod = ds["spec"]["template"]["spec"]
    (plugin,) = pod["containers"]
    assert plugin["image"].startswith(UPSTREAM_IMAGE) and not plugin["image"].endswith(":latest")
    assert plugin["securityContext"]["privileged"] is True
    mounts = {m["mountPath"] for m in plugin["volumeMounts"]}
    assert "/var/lib/kubelet" in mounts  # the kubelet's device-plugins sockets
    assert {"key": "hft.bot4.io/dedicated", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "hft.bot4.io/node-group", "operator": "Exists"} in terms[0]["matchExpressions"]
    assert ds["metadata"]["namespace"] == cm["metadata"]["namespace"] == find(docs, "Namespace")["metadata"]["name"]
    assert not ds["spec"]["template"]["spec"]["automountServiceAccountToken"]


@pytest.mark.parametrize("env", ("dev", "staging"))
def test_other_environments_have_no_device_plugin(rendered, env):
    assert not [d for d in rendered[env] if d["kind"] == "DaemonSet"]
    limits = engine_container(rendered[env])["resources"]["limits"]
    assert RESOURCE not in limits


def test_lab_runs_the_stand_in_with_the_same_config(kustomize, rendered, tmp_path):
    docs = lab_render(kustomize, tmp_path / "lab")
    ds, config, _unused = plugin_parts(docs)
    sys.path.insert(0, str(REPO / "lab"))
    from bot4lab.cluster.images import DEVICE_PLUGIN_IMAGE

    (plugin,) = ds["spec"]["template"]["spec"]["containers"]
    assert plugin["image"] == DEVICE_PLUGIN_IMAGE
    assert plugin["imagePullPolicy"] == "IfNotPresent"
    assert config == plugin_parts(rendered["production"])[1]
    # The kwok fleet looks like tuned nodes whose NIC the plugin advertises.
    fleet = yaml.safe_load((REPO / "lab" / "cluster" / "fleet.yaml").read_text())
    assert fleet["capacity"][RESOURCE] == fleet["allocatable"][RESOURCE] == "1"


PLAYBOOK = """
- name: Render the production overlay as the deploy does, with the nodes' plans
  hosts: bot4_cluster
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.include_role:
        name: bot4.hft.cluster_deploy
        tasks_from: render
    - name: Keep the render
      ansible.builtin.copy:
        content: "{{ __cluster_deploy_manifests | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


def golden_plan(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


def run_render(tmp_path, plans: dict[str, dict]):
    """The cluster_deploy role's render against an inventory whose hft_nodes carry these plans."""
    hosts = {name: {"ansible_connection": "local", "hft_plan": plan} for name, plan in plans.items()}
    inventory = {"all": {"children": {
        "bot4_cluster": {"hosts": {"cluster": {"ansible_connection": "local",
                                               "ansible_python_interpreter": sys.executable}}},
        "hft_nodes": {"hosts": hosts}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    out = tmp_path / "render.json"
    variables = {"cluster_deploy_environment": "production", "cluster_deploy_namespace": "bot4-trading",
                 "cluster_deploy_image": "registry.invalid/bot4/engine@sha256:" + "a" * 64, "out": str(out)}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    proc = ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                            "-e", f"@{tmp_path / 'vars.json'}")
    return proc, out


def test_deploy_render_selects_exactly_the_plans_devices(tmp_path):
    proc, out = run_render(tmp_path, {"node-a": golden_plan("lab__lab"), "node-b": golden_plan("xeon2s__hft"),
                                      "node-c": golden_plan("epyc_nps4__nps4")})
    assert proc.returncode == 0, proc.stdout[-4000:]
    docs = json.loads(out.read_text())
    ds, config, _unused = plugin_parts(docs)
    (res,) = config["resourceList"]
    assert f"{res['resourcePrefix']}/{res['resourceName']}" == RESOURCE
    # Every vfio-pci device of the three plans; epyc's kernel-driven NIC is not one.
    assert res["selectors"] == {
        "vendors": ["8086"], "devices": ["10d3", "1572", "159b"],
        "pciAddresses": ["0000:81:00.0", "0000:af:00.0", "0000:af:00.1", "0000:c1:00.0"],
        "drivers": ["vfio-pci"]}
    assert "hft.bot4.io/device-plugin-config-sha256" in ds["spec"]["template"]["metadata"]["annotations"]
    assert engine_container(docs)["resources"]["limits"][RESOURCE] == "1"
    assert "DPDK device plugin: the vfio-pci devices of the node plans, 0000:81:00.0 0000:af:00.0" in proc.stdout


def test_deploy_render_fails_when_no_plan_binds_a_vfio_device(tmp_path):
    plan = golden_plan("epyc_nps4__nps4")
    plan["dpdk"]["devices"] = [d for d in plan["dpdk"]["devices"] if d["target_driver"] != "vfio-pci"]
    assert plan["dpdk"]["devices"], "the fixture must keep a kernel-driven device"
    proc, out = run_render(tmp_path, {"node-a": plan})
    assert proc.returncode != 0
    assert "no device of the node plans is bound to vfio-pci" in proc.stdout, proc.stdout[-3000:]
    assert not out.exists()
