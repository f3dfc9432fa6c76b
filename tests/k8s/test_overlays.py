"""kustomize build of every overlay, and what the rendered manifests promise."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from k8s_static import ENVIRONMENTS, REPO, find

NAMESPACED_EXCEPT = {"Namespace", "PriorityClass"}
# The platform's documented names (its README's runbook uses them).
NAMESPACES = {"dev": "bot4-trading-dev", "staging": "bot4-trading-staging", "production": "bot4-trading"}
REQUIRED_ENV = {"RUST_LOG", "ENVIRONMENT", "MAX_LATENCY_US", "ENABLE_HFT_MODE", "DPDK_ENABLED"}


def _engine(docs):
    dep = find(docs, "Deployment", "bot4-trading-engine")
    return dep, dep["spec"]["template"]["spec"], dep["spec"]["template"]["spec"]["containers"][0]


def _engine_config(docs):
    """The ConfigMap the engine's container reads its settings from (production
    renders another one, the device plugin's)."""
    _unused, _unused2, ctr = _engine(docs)
    names = {e["valueFrom"]["configMapKeyRef"]["name"] for e in ctr.get("env", [])
             if "configMapKeyRef" in e.get("valueFrom", {})}
    names |= {e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e}
    (name,) = names
    return find(docs, "ConfigMap", name)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_builds_into_its_own_namespace(rendered, env):
    docs = rendered[env]
    ns = NAMESPACES[env]
    assert find(docs, "Namespace")["metadata"]["name"] == ns
    for doc in docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("hft.bot4.io/environment") == env, doc["metadata"]["name"]
        if doc["kind"] not in NAMESPACED_EXCEPT:
            assert doc["metadata"].get("namespace") == ns, (doc["kind"], doc["metadata"])
    # Cluster-scoped objects are per environment, so no overlay prunes another's.
    assert find(docs, "PriorityClass")["metadata"]["name"] == f"bot4-trading-engine-{env}"
    _unused, pod, _unused_b = _engine(docs)
    assert pod["priorityClassName"] == f"bot4-trading-engine-{env}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_values_in_the_tree(rendered, env):
    assert not [d for d in rendered[env] if d["kind"] == "Secret"]
    _unused, _unused_b, ctr = _engine(rendered[env])
    assert ctr["envFrom"] == [{"secretRef": {"name": "exchange-credentials"}}]


@pytest.mark.parametrize("env", ("staging", "production"))
def test_no_secret_with_literal_data_in_staging_or_production(rendered, env):
    literal = [d["metadata"]["name"] for d in rendered[env]
               if d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))]
    assert not literal, literal


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_platform_names(rendered, env):
    docs = rendered[env]
    dep, pod, ctr = _engine(docs)
    assert dep["metadata"]["namespace"] == NAMESPACES[env]
    assert ctr["name"] == "trading-engine"
    assert ctr["image"] == f"bot4/trading-engine:{env}"
    for labels in (dep["metadata"]["labels"], dep["spec"]["selector"]["matchLabels"],
                   dep["spec"]["template"]["metadata"]["labels"]):
        assert labels["app"] == "bot4" and labels["app.kubernetes.io/name"] == "bot4-trading-engine"
    svc = find(docs, "Service", "bot4-trading-service")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"metrics": 9090, "health": 8080}
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_secrets_template_is_dev_only_and_empty():
    path = REPO / "k8s" / "base" / "secrets.yaml"
    (secret,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "exchange-credentials"
    assert "not-for-production" in " ".join(secret["metadata"]["annotations"])
    assert set(secret["stringData"]) == {"BINANCE_API_KEY", "BINANCE_API_SECRET"}
    assert not any(secret["stringData"].values()), "the template must hold no value"
    assert "NOT FOR PRODUCTION" in path.read_text()
    # No kustomization renders it.
    for kust in (REPO / "k8s").rglob("kustomization.yaml"):
        assert "secrets.yaml" not in [str(r) for r in (yaml.safe_load(kust.read_text()).get("resources") or [])]


def test_production_external_secrets_file_is_in_the_overlay(rendered):
    path = REPO / "k8s" / "overlays" / "production" / "external-secrets.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    # On its own (kubectl apply -f) every object names its namespace.
    assert {d["metadata"].get("namespace") for d in docs} == {"bot4-trading"}
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ServiceAccount", "SecretStore", "ExternalSecret"}
    assert {kinds["SecretStore"]["apiVersion"], kinds["ExternalSecret"]["apiVersion"]} == {"external-secrets.io/v1"}
    assert "vault" in kinds["SecretStore"]["spec"]["provider"]
    assert kinds["ExternalSecret"]["spec"]["target"]["name"] == "exchange-credentials"
    for doc in docs:
        find(rendered["production"], doc["kind"], doc["metadata"]["name"])


def engine_configmaps(docs):
    """The engine's generated ConfigMaps (production also ships the device plugin's sriovdp-config)."""
    return [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("bot4-trading-engine-config")]


def test_configmap_still_rolls_the_deployment(rendered, kustomize, tmp_path):
    """The generated ConfigMap's name carries a content hash, which the Deployment refers to."""
    (cm,) = engine_configmaps(rendered["production"])
    assert re.fullmatch(r"bot4-trading-engine-config-[a-z0-9]{10}", cm["metadata"]["name"])
    _unused, _unused_b, ctr = _engine(rendered["production"])
    refs = {e["valueFrom"]["configMapKeyRef"]["name"] for e in ctr["env"] if "configMapKeyRef" in e.get("valueFrom", {})}
    assert refs == {cm["metadata"]["name"]}
    # A changed value in base/configmap.yaml renames it.
    import shutil
    shutil.copytree(REPO / "k8s", tmp_path / "k8s", symlinks=True)
    shutil.copytree(REPO / "monitoring", tmp_path / "monitoring")
    conf = tmp_path / "k8s" / "base" / "configmap.yaml"
    conf.write_text(conf.read_text().replace("MAX_LATENCY_US=100", "MAX_LATENCY_US=90"))
    out = subprocess.run([kustomize, "build", str(tmp_path / "k8s" / "overlays" / "production")],
                         capture_output=True, text=True, check=True).stdout
    (changed,) = engine_configmaps([d for d in yaml.safe_load_all(out) if d])
    assert changed["metadata"]["name"] != cm["metadata"]["name"] and changed["data"]["MAX_LATENCY_US"] == "90"


@pytest.mark.parametrize(("env", "level"), [("dev", "restricted"), ("staging", "privileged"), ("production", "privileged")])
def test_pod_security_level(rendered, env, level):
    """dev adds no capability, so it enforces restricted; IPC_LOCK needs privileged."""
    labels = find(rendered[env], "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == level


def test_no_secret_files_in_the_repo():
    tracked = subprocess.run(
        ["git", "ls-files", "k8s", "monitoring", "inventories"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    suspicious = [p for p in tracked if re.search(r"(\.env|secret.*\.(ya?ml|json)|\.pem|\.key)$", p)]
    # The platform's layout has two such names, neither holding a value: the
    # dev-only template (empty) and production's External Secrets objects.
    allowed = {"k8s/base/secrets.yaml", "k8s/overlays/production/external-secrets.yaml"}
    assert set(suspicious) <= allowed, suspicious
    for path in allowed:
        for doc in yaml.safe_load_all((REPO / path).read_text()):
            if doc and doc["kind"] == "Secret":
                values = {**doc.get("data", {}), **doc.get("stringData", {})}
                assert not any(values.values()), f"{path} holds a secret value"


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
    _unused, pod, ctr = _engine(rendered[env])
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
    _unused, pod, ctr = _engine(rendered["dev"])
    assert ctr["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert "nodeSelector" not in pod
    assert "add" not in ctr["securityContext"]["capabilities"]
    assert "hugepages" not in {v["name"] for v in pod["volumes"]}
    assert not [d for d in rendered["dev"] if d["kind"] == "HorizontalPodAutoscaler"]


def test_production_never_puts_two_engines_on_one_node(rendered):
    dep, pod, _unused = _engine(rendered["production"])
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
    ingress = pols["bot4-trading-engine-ingress-metrics"]["ingress"]
    assert ingress[0]["ports"] == [{"port": 9090, "protocol": "TCP"}]
    dns = pols["bot4-trading-engine-egress-dns"]["egress"][0]["ports"]
    assert {(p["port"], p["protocol"]) for p in dns} == {(53, "UDP"), (53, "TCP")}
    exch = pols["bot4-trading-engine-egress-exchange"]["egress"][0]
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
    _unused, pod, _unused_b = _engine(docs)
    sa = find(docs, "ServiceAccount", pod["serviceAccountName"])
    assert sa["automountServiceAccountToken"] is False
    pdb = find(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("env", ("staging", "production"))
def test_monitoring_component_is_included(rendered, env):
    find(rendered[env], "ServiceMonitor", "bot4-trading-engine")
    find(rendered[env], "PrometheusRule", "bot4-trading-engine")


def test_dev_has_no_prometheus_operator_dependency(rendered):
    assert not [d for d in rendered["dev"] if d["apiVersion"].startswith("monitoring.coreos.com")]


def test_overlays_name_the_platform_image_with_a_placeholder_tag(rendered):
    for env in ENVIRONMENTS:
        _unused, _unused_b, ctr = _engine(rendered[env])
        assert ctr["image"] == f"bot4/trading-engine:{env}", ctr["image"]


def test_kustomize_is_the_pinned_one(kustomize):
    assert Path(kustomize).is_file()


def test_deploy_sh_rejects_unknown_environment_and_action():
    script = REPO / "k8s" / "deploy.sh"
    proc = subprocess.run([str(script), "qa"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown environment 'qa'" in proc.stderr
    proc = subprocess.run([str(script), "dev", "explode"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown action 'explode'" in proc.stderr


def test_deploy_sh_usage_names_the_environments_and_their_namespaces():
    for script in (REPO / "k8s" / "deploy.sh", REPO / "deploy.sh"):
        proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        for env, ns in NAMESPACES.items():
            assert re.search(rf"^\s+(ENV\s+)?{env}\s+namespace {ns}$", proc.stdout, re.M), (env, proc.stdout)
        for action in ("deploy", "canary", "rollback", "stop", "resume", "backup"):
            assert re.search(rf"^\s+(ACTION\s+)?{action}\s", proc.stdout, re.M), action
        bare = subprocess.run([str(script)], capture_output=True, text=True, check=False)
        assert bare.returncode == 2 and bare.stderr.startswith("usage: ./deploy.sh ENV")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_server_egress_policy_allows_nothing_until_the_role_fills_it(rendered, env):
    """The engine needs the API server (Lease, ConfigMap watch): its policy exists, selects the
    engine, and without the deploy role's endpoints it has no rule (a rule without peers would
    allow everything)."""
    pol = find(rendered[env], "NetworkPolicy", "bot4-trading-engine-egress-apiserver")
    assert pol["spec"]["policyTypes"] == ["Egress"]
    assert pol["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "bot4-trading-engine"}}
    assert pol["spec"]["egress"] == []


def test_production_hpa_scales_down_slowly(rendered):
    hpa = find(rendered["production"], "HorizontalPodAutoscaler")
    down = hpa["spec"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]
    assert down["selectPolicy"] == "Min"


def test_backups_and_runbook_files_are_ignored_by_git():
    for path in ("backups/production/20260101T000000Z/objects.yaml", "manifest.yaml", "backup.yaml"):
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
        assert proc.returncode == 0, f"{path} is not ignored by git"
