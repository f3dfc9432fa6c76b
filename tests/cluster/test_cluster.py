"""The lab cluster does what the collection's cluster work relies on."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import tempfile
from pathlib import Path

import pytest
import yaml
from bot4lab.cluster.build import kube_spec
from conftest import wait_until

TRADING_SELECTOR = {"hft.bot4.io/node-group": "trading"}
TRADING_TOLERATION = {"key": "hft.bot4.io/dedicated", "operator": "Equal", "value": "trading",
                      "effect": "NoSchedule"}
RESTRICTED_CONTAINER = {
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                        "runAsUser": 65532, "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"}},
}


def test_version_is_stamped(lab_cluster):
    expected = kube_spec().version
    info = json.loads(lab_cluster.kubectl("version", "-o", "json").stdout)
    assert info["serverVersion"]["gitVersion"] == expected
    assert info["clientVersion"]["gitVersion"] == expected
    major, minor = expected.lstrip("v").split(".")[:2]
    assert (info["serverVersion"]["major"], info["serverVersion"]["minor"]) == (major, minor)
    human = lab_cluster.kubectl("version").stdout
    assert f"Server Version: {expected}" in human


def test_kwok_nodes_ready_and_shaped_like_tuned_hft_nodes(lab_cluster):
    nodes = lab_cluster.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    assert len(nodes) >= 3
    for node in nodes:
        name = node["metadata"]["name"]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", f"{name} not Ready"
        labels = node["metadata"]["labels"]
        assert labels["node-role.kubernetes.io/worker"] == ""
        assert labels["hft.bot4.io/tuned"] == "true"
        assert labels["hft.bot4.io/node-group"] == "trading"
        assert labels["topology.kubernetes.io/zone"]
        assert {"key": "hft.bot4.io/dedicated", "value": "trading",
                "effect": "NoSchedule"} in node["spec"]["taints"]
        alloc = node["status"]["allocatable"]
        assert alloc["hugepages-1Gi"] == "8Gi" and alloc["hugepages-2Mi"] == "1Gi"
        assert alloc["cpu"] == "28" and node["status"]["capacity"]["cpu"] == "32"
        assert alloc["pods"] == "110"
    # `kubectl get nodes` shows them Ready, as a user would see it.
    table = lab_cluster.kubectl("get", "nodes", "-l", "type=kwok", "--no-headers").stdout
    assert len([line for line in table.splitlines() if " Ready " in line]) == len(nodes)


def test_deployment_on_kwok_nodes_becomes_available(lab_cluster, namespace):
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "engine-sim", "namespace": namespace},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "engine-sim"}},
            "template": {
                "metadata": {"labels": {"app": "engine-sim"}},
                "spec": {
                    "nodeSelector": TRADING_SELECTOR,
                    "tolerations": [TRADING_TOLERATION],
                    "containers": [{
                        "name": "engine", "image": "localhost/bot4/hft-probe:v1",
                        "resources": {"requests": {"cpu": "4", "memory": "8Gi",
                                                   "hugepages-1Gi": "2Gi"},
                                      "limits": {"cpu": "4", "memory": "8Gi",
                                                 "hugepages-1Gi": "2Gi"}},
                        **RESTRICTED_CONTAINER,
                    }],
                },
            },
        },
    }
    lab_cluster.apply(deployment)
    lab_cluster.kubectl("rollout", "status", "-n", namespace, "deployment/engine-sim",
                        "--timeout=180s", timeout=200)
    dep = lab_cluster.kubectl_json("get", "-n", namespace, "deployment", "engine-sim")
    available = [c for c in dep["status"]["conditions"] if c["type"] == "Available"]
    assert available and available[0]["status"] == "True"
    assert dep["status"]["availableReplicas"] == 3
    pods = lab_cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=engine-sim")["items"]
    nodes = {n["metadata"]["name"] for n in
             lab_cluster.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]}
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] in nodes
        assert pod["status"]["qosClass"] == "Guaranteed"


def test_untolerated_pod_stays_pending(lab_cluster, namespace):
    """The fleet's taint keeps ordinary pods off the trading nodes."""
    lab_cluster.apply({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "intruder", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "localhost/bot4/hft-probe:v1",
                                 **RESTRICTED_CONTAINER}]},
    })

    def unschedulable():
        pod = lab_cluster.kubectl_json("get", "pod", "-n", namespace, "intruder")
        cond = [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"]
        return cond and cond[0]["status"] == "False" and cond[0].get("reason") == "Unschedulable"

    wait_until(unschedulable, 60, what="the scheduler to report the pod Unschedulable")


def sa_kubeconfig(lab_cluster, namespace: str, sa: str, directory: Path) -> Path:
    """A kubeconfig that authenticates with the ServiceAccount's token only."""
    token = lab_cluster.kubectl("create", "token", "-n", namespace, sa,
                                "--duration=10m").stdout.strip()
    admin = yaml.safe_load(lab_cluster.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
              "users": [{"name": sa, "user": {"token": token}}],
              "contexts": [{"name": sa, "context": {"cluster": cluster["name"], "user": sa}}],
              "current-context": sa}
    path = directory / f"{sa}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_rbac_forbids_an_unprivileged_service_account(lab_cluster, namespace, tmp_path):
    lab_cluster.kubectl("create", "serviceaccount", "-n", namespace, "nobody")
    kubeconfig = sa_kubeconfig(lab_cluster, namespace, "nobody", tmp_path)
    who = json.loads(lab_cluster.kubectl("auth", "whoami", "-o", "json",
                                         kubeconfig=kubeconfig).stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:nobody"
    for args in (("get", "secrets", "-n", "kube-system"), ("get", "nodes"),
                 ("create", "namespace", f"{namespace}-x")):
        proc = lab_cluster.kubectl(*args, kubeconfig=kubeconfig, check=False)
        assert proc.returncode != 0 and "forbidden" in proc.stderr.lower(), (args, proc.stderr)
    # The controller-manager runs each controller with its own ServiceAccount.
    sas = lab_cluster.kubectl_json("get", "serviceaccounts", "-n", "kube-system")["items"]
    assert {"deployment-controller", "replicaset-controller"} <= {
        s["metadata"]["name"] for s in sas}


def test_pod_security_admission_enforces_restricted(lab_cluster, namespace):
    lab_cluster.kubectl("label", "namespace", namespace,
                        "pod-security.kubernetes.io/enforce=restricted")
    privileged = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "localhost/bot4/hft-probe:v1",
                                 "securityContext": {"privileged": True}}]},
    }
    proc = lab_cluster.kubectl("create", "-f", "-", input=json.dumps(privileged), check=False)
    assert proc.returncode != 0
    assert "violates PodSecurity" in proc.stderr


def test_node_credentials_for_a_real_kubelet(lab_cluster, tmp_path):
    """What the lab VM's kubelet will use: a client certificate from the lab CA
    for system:node:NAME, authorized by the Node authorizer and NodeRestriction,
    and an apiserver certificate valid for 10.0.2.2 (the host, seen from QEMU)."""
    if lab_cluster.name is None:
        pytest.skip("needs a cluster started by this session (clusterctl node-credentials)")
    node = "lab-vm-probe"
    proc = lab_cluster.clusterctl("node-credentials", "--name", lab_cluster.name, node)
    assert proc.returncode == 0, proc.stderr
    outdir = Path(proc.stdout.strip())
    assert {"kubelet.kubeconfig", "ca.crt", "kubelet.crt", "kubelet.key"} <= {
        p.name for p in outdir.iterdir()}
    config = yaml.safe_load((outdir / "kubelet.kubeconfig").read_text())
    server = config["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://10.0.2.2:")
    # From the host, the same port is on the loopback.
    port = int(server.rsplit(":", 1)[1])
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    local = tmp_path / "kubelet.kubeconfig"
    local.write_text(yaml.safe_dump(config))

    who = json.loads(lab_cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=local).stdout)
    assert who["status"]["userInfo"]["username"] == f"system:node:{node}"
    assert "system:nodes" in who["status"]["userInfo"]["groups"]
    # A kubelet may register its own Node ...
    own = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}}}
    try:
        lab_cluster.kubectl("create", "-f", "-", input=json.dumps(own), kubeconfig=local)
        # ... but NodeRestriction stops it from setting labels under
        # node-restriction.kubernetes.io/ (the only node labels a kubelet
        # cannot give itself, so the only ones safe to schedule secrets on),
        label = lab_cluster.kubectl("label", "node", node,
                                    "node-restriction.kubernetes.io/hft-tuned=true",
                                    kubeconfig=local, check=False)
        assert label.returncode != 0 and "forbidden" in label.stderr.lower(), label.stderr
        # and it cannot touch another node.
        other = lab_cluster.kubectl("label", "node", "kwok-trading-0", "x=y", kubeconfig=local,
                                    check=False)
        assert other.returncode != 0 and "forbidden" in other.stderr.lower(), other.stderr
    finally:
        lab_cluster.kubectl("delete", "node", node, "--ignore-not-found", check=False)

    # The apiserver's serving certificate carries the VM-side address.
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    with tempfile.NamedTemporaryFile("wb", suffix=".crt") as cafile:
        cafile.write(ca)
        cafile.flush()
        ctx = ssl.create_default_context(cafile=cafile.name)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw) as tls:
            sans = tls.getpeercert()["subjectAltName"]
    assert ("IP Address", "10.0.2.2") in sans
    assert ("IP Address", "127.0.0.1") in sans
    assert ("DNS", "kubernetes.default.svc") in sans
