"""kustomize build of every overlay, and what the rendered manifests promise."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from k8s_static import ENVIRONMENTS, REPO, find

NAMESPACED_EXCEPT = {"Namespace", "PriorityClass"}
REQUIRED_ENV = {"RUST_LOG", "ENVIRONMENT", "MAX_LATENCY_US", "ENABLE_HFT_MODE", "DPDK_ENABLED"}


def _engine(docs):
    dep = find(docs, "Deployment", "bot4-engine")
    return dep, dep["spec"]["template"]["spec"], dep["spec"]["template"]["spec"]["containers"][0]


def _engine_config(docs):
    """The ConfigMap the engine's container reads its settings from (production
    renders another one, the device plugin's)."""
    _, _, ctr = _engine(docs)
    names = {e["valueFrom"]["configMapKeyRef"]["name"] for e in ctr.get("env", [])
             if "configMapKeyRef" in e.get("valueFrom", {})}
    names |= {e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e}
    (name,) = names
    return find(docs, "ConfigMap", name)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_builds_into_its_own_namespace(rendered, env):
    docs = rendered[env]
    ns = f"bot4-{env}"
    assert find(docs, "Namespace")["metadata"]["name"] == ns
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("hft.bot4.io/environment") == env, doc["metadata"]["name"]
        if doc["kind"] not in NAMESPACED_EXCEPT:
            assert doc["metadata"].get("namespace") == ns, (doc["kind"], doc["metadata"])
    # Cluster-scoped objects are per environment, so no overlay prunes another's.
    assert find(docs, "PriorityClass")["metadata"]["name"] == f"bot4-engine-{env}"
    _, pod, _ = _engine(docs)
    assert pod["priorityClassName"] == f"bot4-engine-{env}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_values_in_the_tree(rendered, env):
    assert not [d for d in rendered[env] if d["kind"] == "Secret"]
    _, _, ctr = _engine(rendered[env])
    assert ctr["envFrom"] == [{"secretRef": {"name": "bot4-exchange-credentials"}}]


def test_no_secret_files_in_the_repo():
    tracked = subprocess.run(
        ["git", "ls-files", "k8s", "monitoring", "inventories"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    suspicious = [p for p in tracked if re.search(r"(\.env|secret.*\.(ya?ml|json)|\.pem|\.key)$", p)]
    assert not suspicious, suspicious


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_engine_is_hardened(rendered, env):
    dep, pod, ctr = _engine(rendered[env])
    assert "replicas" not in dep["spec"] or env == "dev"
    assert pod["terminationGracePeriodSeconds"] == 60
    assert ctr["lifecycle"]["preStop"]
    assert {p["containerPort"]: p["name"] for p in ctr["ports"]} == {8080: "health", 9090: "metrics"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert ctr[probe]["httpGet"]["port"] == "health", probe
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    sc = ctr["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"].get("add", [])) <= {"IPC_LOCK"}
    assert {e["name"] for e in ctr["env"]} >= REQUIRED_ENV
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["scratch"]["emptyDir"] is not None and mounts["scratch"] == "/tmp"
    tolerations = pod["tolerations"]
    assert {"key": "hft.bot4.io/dedicated", "operator": "Equal", "value": "trading",
            "effect": "NoSchedule"} in tolerations
    cm = _engine_config(rendered[env])
    assert cm["data"]["MAX_LATENCY_US"] == "100"
    assert cm["data"]["ENVIRONMENT"] == env


@pytest.mark.parametrize(
    ("env", "cpu", "memory", "hugepages"),
    [("staging", "8", "16Gi", "2Gi"), ("production", "16", "32Gi", "4Gi")],
)
def test_tuned_environments_are_guaranteed_and_pinned(rendered, env, cpu, memory, hugepages):
    _, pod, ctr = _engine(rendered[env])
    res = ctr["resources"]
    assert res["requests"] == res["limits"], "Guaranteed QoS needs requests == limits"
    # production adds one DPDK NIC from the device plugin (components/dpdk).
    dpdk = {"hft.bot4.io/dpdk_nic": "1"} if env == "production" else {}
    assert res["limits"] == {"cpu": cpu, "memory": memory, "hugepages-1Gi": hugepages, **dpdk}
    assert re.fullmatch(r"\d+", res["limits"]["cpu"]), "static CPU manager needs whole CPUs"
    assert pod["nodeSelector"] == {"hft.bot4.io/tuned": "true"}
    assert ctr["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["hugepages"]["emptyDir"]["medium"] == "HugePages-1Gi"
    cm = _engine_config(rendered[env])
    assert cm["data"]["DPDK_ENABLED"] == "true"
    assert cm["data"]["ENABLE_HFT_MODE"] == "true"


def test_dev_is_burstable_and_unpinned(rendered):
    _, pod, ctr = _engine(rendered["dev"])
    assert ctr["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert "nodeSelector" not in pod
    assert "add" not in ctr["securityContext"]["capabilities"]
    assert "hugepages" not in {v["name"] for v in pod["volumes"]}
    assert not [d for d in rendered["dev"] if d["kind"] == "HorizontalPodAutoscaler"]


def test_production_never_puts_two_engines_on_one_node(rendered):
    dep, pod, _ = _engine(rendered["production"])
    anti = pod["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


@pytest.mark.parametrize(
    ("env", "lo", "hi", "cpu", "mem"),
    [("staging", 3, 10, 60, 70), ("production", 5, 20, 50, 60)],
)
def test_autoscaling(rendered, env, lo, hi, cpu, mem):
    hpa = find(rendered[env], "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (lo, hi)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"] if m["type"] == "Resource"
    }
    assert targets == {"cpu": cpu, "memory": mem}
    pods = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    if env == "production":
        (metric,) = pods
        assert metric["pods"]["metric"]["name"] == "decision_latency_us"
        assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "100"}
    else:
        assert not pods


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_is_default_deny(rendered, env):
    pols = {d["metadata"]["name"]: d["spec"] for d in rendered[env] if d["kind"] == "NetworkPolicy"}
    assert pols["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = pols["bot4-engine-ingress-metrics"]["ingress"]
    assert ingress[0]["ports"] == [{"port": 9090, "protocol": "TCP"}]
    dns = pols["bot4-engine-egress-dns"]["egress"][0]["ports"]
    assert {(p["port"], p["protocol"]) for p in dns} == {(53, "UDP"), (53, "TCP")}
    exch = pols["bot4-engine-egress-exchange"]["egress"][0]
    assert exch["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert all("ipBlock" in t for t in exch["to"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rbac_is_namespaced_and_minimal(rendered, env):
    docs = rendered[env]
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = find(docs, "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "secrets" not in rule["resources"]
    _, pod, _ = _engine(docs)
    sa = find(docs, "ServiceAccount", pod["serviceAccountName"])
    assert sa["automountServiceAccountToken"] is False
    pdb = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("env", ("staging", "production"))
def test_monitoring_component_is_included(rendered, env):
    find(rendered[env], "ServiceMonitor", "bot4-engine")
    find(rendered[env], "PrometheusRule", "bot4-engine")


def test_dev_has_no_prometheus_operator_dependency(rendered):
    assert not [d for d in rendered["dev"] if d["apiVersion"].startswith("monitoring.coreos.com")]


def test_overlays_name_an_image_placeholder_only(rendered):
    for env in ENVIRONMENTS:
        _, _, ctr = _engine(rendered[env])
        assert ctr["image"].startswith("registry.invalid/"), ctr["image"]


def test_kustomize_is_the_pinned_one(kustomize):
    assert Path(kustomize).is_file()


def test_deploy_sh_rejects_unknown_environment_and_action():
    script = REPO / "k8s" / "deploy.sh"
    proc = subprocess.run([str(script), "qa"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown environment 'qa'" in proc.stderr
    proc = subprocess.run([str(script), "dev", "explode"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown action 'explode'" in proc.stderr
