"""The engine's overlays and the deploy playbooks against the lab cluster.

The `lab` fixture (tests/cluster/deploy_lab.py) prepares the cluster: kwok
nodes for production's 5 engines and a canary, the upstream CRDs, a journal
volume per environment. Tests run in file order and build on each other
(deploy -> idempotence -> prune -> canary -> rollback -> stop/resume ->
backup).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from deploy_lab import CIDRS, DIGEST_A, DIGEST_B, DIGEST_C, ENVIRONMENTS, NAMESPACES, REPO, recap, wait_for

# --- bad input: fails before anything changes --------------------------------


@pytest.mark.parametrize(
    ("env_name", "kwargs", "message"),
    [
        ("dev", {"extra": {"cluster_deploy_environment": "qa"}}, "cluster_deploy_environment"),
        ("dev", {"image": ""}, "cluster_deploy_image: must name the engine image"),
        ("production", {"image": "bot4/trading-engine:latest"}, "has no @sha256 digest"),
        ("production", {"extra": {"cluster_deploy_exchange_egress_cidrs": []}},
         "cluster_deploy_exchange_egress_cidrs: production needs"),
        ("dev", {"extra": {"cluster_deploy_exchange_egress_cidrs": ["10.0.0.0/33"]}}, "is not a CIDR"),
        ("production", {"extra": {"external_secrets_vault_server": "vault:8200"}}, "external_secrets_vault_server"),
        ("production", {"extra": {"external_secrets_backend": "aws"}}, "external_secrets_aws_role_arn"),
    ],
    ids=["environment", "image", "digest", "cidrs", "cidr-syntax", "vault-url", "aws-arn"],
)
def test_bad_input_fails_early_and_changes_nothing(lab, env_name, kwargs, message):
    proc = lab.play("deploy", env_name, **kwargs)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-4000:]
    assert not lab.exists("namespace", NAMESPACES[env_name])


def test_missing_crds_fail_before_any_change(lab):
    """The preflight names the unserved kinds; simulated with a made-up kind."""
    patch = {"target": {"kind": "Service", "name": "bot4-trading-service"},
             "patch": json.dumps([{"op": "replace", "path": "/apiVersion", "value": "example.invalid/v1"}])}
    proc = lab.play("deploy", "dev", extra={"cluster_deploy_extra_patches": [patch]})
    assert proc.returncode != 0
    assert "The cluster does not serve Service (example.invalid/v1)" in proc.stdout, proc.stdout[-3000:]
    assert not lab.exists("namespace", "bot4-trading-dev")


def test_dry_run_of_a_fresh_environment_creates_nothing(lab):
    proc = lab.ok("deploy", "dev", check=True)
    assert "does not exist yet" in proc.stdout
    assert not lab.exists("namespace", "bot4-trading-dev")
    assert not lab.exists("priorityclass", "bot4-trading-engine-dev")


# --- every overlay applies, dry-runs, and is idempotent ----------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_overlay_applies_and_becomes_available(lab, env_name):
    first = lab.ok("deploy", env_name)
    assert recap(first.stdout)["changed"] > 0
    lab.wait_available(env_name, {"dev": 1, "staging": 3, "production": 5}[env_name])
    dep = lab.deployment(env_name)
    ctr = dep["spec"]["template"]["spec"]["containers"][0]
    assert ctr["image"] == DIGEST_A
    fields = lab.get("-n", NAMESPACES[env_name], "deployment", "bot4-trading-engine", "--show-managed-fields")
    managers = {m["manager"] for m in fields["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert "bot4-hft" in managers
    pods = lab.get("-n", NAMESPACES[env_name], "pods", "-l", "app.kubernetes.io/name=bot4-trading-engine")["items"]
    assert all(p["spec"]["nodeName"].startswith("kwok-") for p in pods)
    if env_name != "dev":
        assert {p["status"]["qosClass"] for p in pods} == {"Guaranteed"}
    if env_name == "production":
        assert len({p["spec"]["nodeName"] for p in pods}) == len(pods), "two engines on one node"
    # The exchange CIDRs from the inventory replaced the placeholder.
    pol = lab.get("-n", NAMESPACES[env_name], "networkpolicy", "bot4-trading-engine-egress-exchange")
    assert [t["ipBlock"]["cidr"] for t in pol["spec"]["egress"][0]["to"]] == CIDRS.split(",")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_second_apply_changes_nothing_and_dry_run_passes(lab, env_name):
    again = lab.ok("deploy", env_name)
    assert recap(again.stdout)["changed"] == 0, again.stdout[-5000:]
    before = lab.deployment(env_name)["metadata"]["resourceVersion"]
    dry = lab.ok("deploy", env_name, image=DIGEST_B, check=True)
    assert recap(dry.stdout)["changed"] > 0  # the new image would change the Deployment
    assert lab.deployment(env_name)["metadata"]["resourceVersion"] == before
    assert lab.deployment(env_name)["spec"]["template"]["spec"]["containers"][0]["image"] == DIGEST_A


def test_secrets_reach_the_cluster_by_the_configured_route(lab):
    # dev: a plain Secret from inventory variables.
    sec = lab.get("-n", "bot4-trading-dev", "secret", "exchange-credentials")
    assert sorted(sec["data"]) == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    # production: accepted by the real ESO and prometheus-operator CRDs.
    store = lab.get("-n", "bot4-trading", "secretstore", "bot4-secret-store")
    assert store["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"] == "bot4-trading-engine-production"
    es = lab.get("-n", "bot4-trading", "externalsecret", "exchange-credentials")
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    assert lab.exists("-n", "bot4-trading", "servicemonitor", "bot4-trading-engine")
    rule = lab.get("-n", "bot4-trading", "prometheusrule", "bot4-trading-engine")
    alerts = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"Bot4DrawdownCircuitBreaker", "Bot4DecisionLatencyP99High", "Bot4ErrorRateHigh"} <= alerts
    assert not lab.exists("-n", "bot4-trading", "secret", "exchange-credentials")


def test_engine_may_reach_the_api_server_and_nothing_more(lab):
    """The egress policy lists exactly the `kubernetes` EndpointSlice's addresses and ports."""
    slices = lab.get("-n", "default", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes")["items"]
    want = {(f"{a}/32", p["port"]) for sl in slices for ep in sl["endpoints"] for a in ep["addresses"]
            for p in sl["ports"]}
    assert want, slices
    for env_name in ENVIRONMENTS:
        pol = lab.get("-n", NAMESPACES[env_name], "networkpolicy", "bot4-trading-engine-egress-apiserver")
        assert pol["spec"]["policyTypes"] == ["Egress"]
        assert pol["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "bot4-trading-engine"}}
        got = {(t["ipBlock"]["cidr"], p["port"]) for r in pol["spec"]["egress"] for t in r["to"] for p in r["ports"]}
        assert got == want, (env_name, got, want)
        assert all(set(t) == {"ipBlock"} for r in pol["spec"]["egress"] for t in r["to"])


def test_hpa_custom_metric_needs_its_api(lab):
    """custom.metrics.k8s.io is not served in the lab: refused unless dropped, and dropped explicitly."""
    before = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine")
    proc = lab.play("deploy", "production", env={"BOT4_CUSTOM_METRICS": "require"})
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the yaml callback wraps long messages
    assert "uses the metrics decision_latency_us, read through custom.metrics.k8s.io, which this cluster does not serve" \
        in out, proc.stdout[-3000:]
    assert "Install prometheus-adapter with the rules in monitoring/prometheus-adapter-rules.yaml" in out
    after = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine")
    assert (after["metadata"]["generation"], after["spec"]) == (before["metadata"]["generation"], before["spec"])
    # The lab's deploys ran with drop: said so, and only CPU and memory remain.
    dropped = lab.ok("deploy", "production")
    assert "the HPA scales on CPU and memory only; dropped decision_latency_us" in " ".join(dropped.stdout.split())
    hpa = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource", "Resource"]
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]


# --- pruning ----------------------------------------------------------------


def _inventory(lab, env_name):
    cm = lab.get("-n", NAMESPACES[env_name], "configmap", "bot4-trading-engine-applyset")
    return json.loads(cm["data"]["objects"])


def test_objects_removed_from_the_overlay_are_pruned(lab):
    def drop(kind, name, api):
        return {"target": {"kind": kind, "name": name},
                "patch": yaml.safe_dump({"$patch": "delete", "apiVersion": api, "kind": kind,
                                         "metadata": {"name": name}})}

    pdb = "policy/v1|PodDisruptionBudget|bot4-trading-staging|bot4-trading-engine"
    netpol = "networking.k8s.io/v1|NetworkPolicy|bot4-trading-staging|bot4-trading-engine-ingress-metrics"
    assert {pdb, netpol} <= set(_inventory(lab, "staging"))
    # An object of the set whose inventory entry was lost is found by label.
    lab.cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "stray", "namespace": "bot4-trading-staging",
                                    "labels": {"hft.bot4.io/applyset": "bot4-trading-engine-staging"}}})
    # An object someone else has taken over (label changed) is never deleted.
    lab.cluster.kubectl("label", "--overwrite", "-n", "bot4-trading-staging", "networkpolicy",
                        "bot4-trading-engine-ingress-metrics", "hft.bot4.io/applyset=someone-else")
    lab.ok("deploy", "staging", extra={"cluster_deploy_extra_patches": [
        drop("PodDisruptionBudget", "bot4-trading-engine", "policy/v1"),
        drop("NetworkPolicy", "bot4-trading-engine-ingress-metrics", "networking.k8s.io/v1")]})
    assert not lab.exists("-n", "bot4-trading-staging", "pdb", "bot4-trading-engine")
    assert not lab.exists("-n", "bot4-trading-staging", "configmap", "stray")
    assert lab.exists("-n", "bot4-trading-staging", "networkpolicy", "bot4-trading-engine-ingress-metrics")
    assert not {pdb, netpol} & set(_inventory(lab, "staging"))
    # Back in the overlay: recreated (or taken back) and tracked again.
    lab.ok("deploy", "staging")
    assert lab.exists("-n", "bot4-trading-staging", "pdb", "bot4-trading-engine")
    pol = lab.get("-n", "bot4-trading-staging", "networkpolicy", "bot4-trading-engine-ingress-metrics")
    assert pol["metadata"]["labels"]["hft.bot4.io/applyset"] == "bot4-trading-engine-staging"
    assert {pdb, netpol} <= set(_inventory(lab, "staging"))


def test_prune_never_touches_other_environments(lab):
    for env_name in ENVIRONMENTS:
        assert lab.exists("priorityclass", f"bot4-trading-engine-{env_name}")
        assert lab.exists("-n", NAMESPACES[env_name], "deployment", "bot4-trading-engine")


def _image(lab, env_name):
    return lab.deployment(env_name)["spec"]["template"]["spec"]["containers"][0]["image"]


# --- canary ------------------------------------------------------------------


def test_canary_promotes_a_healthy_template(lab):
    rev_before = int(lab.deployment("production")["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    proc = lab.ok("canary", "production", image=DIGEST_B)
    assert "Apply the canary" in proc.stdout
    assert not lab.exists("-n", "bot4-trading", "deployment", "bot4-trading-engine-canary")
    dep = lab.deployment("production")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == DIGEST_B
    assert int(dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) == rev_before + 1
    lab.wait_available("production", 5)
    assert not any(k.endswith("|bot4-trading-engine-canary") for k in _inventory(lab, "production"))
    # Unchanged template: no canary, nothing changes.
    again = lab.ok("canary", "production", image=DIGEST_B)
    assert "Apply the canary" not in again.stdout
    assert recap(again.stdout)["changed"] == 0, again.stdout[-4000:]


def test_canary_failure_rolls_back_and_fails(lab):
    """A canary that never becomes available (unschedulable) is removed; stable untouched."""
    unschedulable = {"target": {"kind": "Deployment", "name": "bot4-trading-engine"},
                     "patch": json.dumps([{"op": "add", "path": "/spec/template/spec/nodeSelector/hft.bot4.io~1missing",
                                           "value": "true"}])}
    before = lab.deployment("production")
    proc = lab.play("canary", "production", image=DIGEST_C,
                    extra={"cluster_deploy_extra_patches": [unschedulable], "cluster_deploy_canary_timeout": 20})
    assert proc.returncode != 0
    assert "failed in the canary phase" in proc.stdout, proc.stdout[-4000:]
    assert "The stable engine was never changed" in proc.stdout
    assert not lab.exists("-n", "bot4-trading", "deployment", "bot4-trading-engine-canary")
    after = lab.deployment("production")
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert not any(k.endswith("|bot4-trading-engine-canary") for k in _inventory(lab, "production"))
    lab.wait_available("production", 5)


def test_failed_promotion_rolls_the_engine_back_and_fails(lab):
    """The canary passes, the stable rollout cannot finish: rolled back, run fails.

    The new template may have at most one pod per zone (required anti-affinity
    on topology.kubernetes.io/zone against its own new label), so the canary
    fits but the rollout of five engines gets stuck."""
    zone_limited = {"target": {"kind": "Deployment", "name": "bot4-trading-engine"}, "patch": json.dumps([
        {"op": "add", "path": "/spec/template/metadata/labels/hft.bot4.io~1probe", "value": "zone-limited"},
        {"op": "add", "path": "/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/-",
         "value": {"topologyKey": "topology.kubernetes.io/zone",
                   "labelSelector": {"matchLabels": {"hft.bot4.io/probe": "zone-limited"}}}},
    ])}
    before = _image(lab, "production")
    proc = lab.play("canary", "production", image=DIGEST_C,
                    extra={"cluster_deploy_extra_patches": [zone_limited], "cluster_deploy_wait_timeout": 45})
    assert proc.returncode != 0
    assert "failed in the promote phase" in proc.stdout, proc.stdout[-5000:]
    assert "rolled back to its previous revision" in proc.stdout
    assert not lab.exists("-n", "bot4-trading", "deployment", "bot4-trading-engine-canary")
    assert _image(lab, "production") == before
    lab.wait_available("production", 5)
    dep = lab.deployment("production")
    assert dep["metadata"]["annotations"]["hft.bot4.io/template-hash"].startswith("rolled-back-to-")
    assert "hft.bot4.io/probe" not in dep["spec"]["template"]["metadata"]["labels"]


class Prometheus:
    """A real Prometheus (the pinned Debian package's binary) that scrapes nothing."""

    def __init__(self, tmp: Path):
        promtool = Path(subprocess.run([str(REPO / "tools" / "k8s-tools.sh"), "promtool"], capture_output=True,
                                       text=True, check=True).stdout.strip().splitlines()[-1])
        self.binary = promtool.parent / "prometheus"
        (tmp / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen([str(self.binary), f"--config.file={tmp / 'prometheus.yml'}",
                                      f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def test_production_canary_needs_its_latency_gate(lab):
    """On by default in production: a canary without a Prometheus is refused before anything changes."""
    before = lab.deployment("production")
    proc = lab.play("canary", "production", image=DIGEST_C, extra={"cluster_deploy_canary_latency_gate": None})
    assert proc.returncode != 0
    assert "cluster_deploy_canary_prometheus_url: empty, but the canary's latency gate is on" in \
        " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert not lab.exists("-n", "bot4-trading", "deployment", "bot4-trading-engine-canary")
    assert lab.deployment("production")["metadata"]["generation"] == before["metadata"]["generation"]


def test_canary_without_latency_samples_fails(lab, tmp_path):
    """A Prometheus with no decision-latency data: "no samples" fails the canary, stable untouched."""
    prom = Prometheus(tmp_path)
    try:
        wait_for(prom.ready, 60, "Prometheus to be ready")
        before = lab.deployment("production")
        proc = lab.play("canary", "production", image=DIGEST_C,
                        extra={"cluster_deploy_canary_latency_gate": True,
                               "cluster_deploy_canary_prometheus_url": prom.url})
    finally:
        prom.stop()
    assert proc.returncode != 0
    assert "no samples in Prometheus (the gate fails without data)" in " ".join(proc.stdout.split()), \
        proc.stdout[-4000:]
    assert "The stable engine was never changed" in proc.stdout
    assert not lab.exists("-n", "bot4-trading", "deployment", "bot4-trading-engine-canary")
    after = lab.deployment("production")
    assert after["spec"]["template"] == before["spec"]["template"]
    lab.wait_available("production", 5)


# --- rollback ----------------------------------------------------------------


def _revisions(lab):
    return {int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]):
            rs["spec"]["template"]["spec"]["containers"][0]["image"]
            for rs in lab.get("-n", "bot4-trading", "replicasets",
                              "-l", "app.kubernetes.io/name=bot4-trading-engine")["items"]}


def test_rollback_to_named_and_previous_revision(lab):
    assert _image(lab, "production") == DIGEST_B
    target = max(r for r, img in _revisions(lab).items() if img == DIGEST_A)
    lab.ok("rollback", "production", extra={"cluster_deploy_rollback_revision": target})
    assert _image(lab, "production") == DIGEST_A
    lab.wait_available("production", 5)
    # "previous" is the revision before the current one: the B template.
    lab.ok("rollback", "production")
    assert _image(lab, "production") == DIGEST_B
    lab.wait_available("production", 5)
    # The ConfigMap generation that revision uses is still there.
    tmpl = lab.deployment("production")["spec"]["template"]["spec"]["containers"][0]
    cm = next(e["valueFrom"]["configMapKeyRef"]["name"] for e in tmpl["env"]
              if "configMapKeyRef" in e.get("valueFrom", {}))
    assert lab.exists("-n", "bot4-trading", "configmap", cm)
    bad = lab.play("rollback", "production", extra={"cluster_deploy_rollback_revision": 999})
    assert bad.returncode != 0
    assert "cluster_deploy_rollback_revision=999: no such revision" in bad.stdout
    lab.wait_available("production", 5)


# --- emergency stop and resume ----------------------------------------------


def test_emergency_stop_holds_and_resume_restores(lab):
    lab.ok("emergency_stop", "production")
    dep = lab.deployment("production")
    assert dep["spec"]["replicas"] == 0
    assert json.loads(dep["metadata"]["annotations"]["hft.bot4.io/emergency-stop-replicas"]) == {"bot4-trading-engine": 5}
    hpa = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)
    assert not lab.get("-n", "bot4-trading", "pods", "-l", "app.kubernetes.io/name=bot4-trading-engine")["items"]
    # The HPA controller has synced since the stop (it reports ScalingDisabled
    # for a target at zero replicas; before the stop it reported missing
    # metrics) and the engine is still at zero.

    def hpa_saw_the_stop():
        status = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine").get("status", {})
        return [c for c in status.get("conditions", [])
                if c["type"] == "ScalingActive" and c["reason"] == "ScalingDisabled"]
    wait_for(hpa_saw_the_stop, 90, "the HPA to sync with the stopped engine")
    assert lab.deployment("production")["spec"]["replicas"] == 0
    # A second stop changes nothing; a deploy is refused while stopped.
    again = lab.ok("emergency_stop", "production")
    assert recap(again.stdout)["changed"] == 0, again.stdout[-4000:]
    assert json.loads(lab.deployment("production")["metadata"]["annotations"][
        "hft.bot4.io/emergency-stop-replicas"]) == {"bot4-trading-engine": 5}
    refused = lab.play("deploy", "production", image=DIGEST_B)
    assert refused.returncode != 0 and "is under an emergency stop" in refused.stdout
    lab.ok("resume", "production", image=DIGEST_B)
    lab.wait_available("production", 5)
    hpa = lab.get("-n", "bot4-trading", "hpa", "bot4-trading-engine")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 20)
    annotations = lab.deployment("production")["metadata"]["annotations"]
    assert not [k for k in annotations if k.startswith("hft.bot4.io/emergency-stop")]
    lab.ok("deploy", "production", image=DIGEST_B)


# --- backup -------------------------------------------------------------------


def test_backup_writes_config_and_secret_metadata_without_values(lab, tmp_path):
    lab.ok("backup", "dev", extra={"cluster_deploy_backup_dir": str(tmp_path)})
    (run,) = list((tmp_path / "dev").iterdir())
    files = {p.name: p.read_text() for p in run.iterdir()}
    assert set(files) == {"objects.yaml", "configmaps.yaml", "pvcs.yaml", "secrets-metadata.yaml"}
    meta = yaml.safe_load(files["secrets-metadata.yaml"])
    cred = next(s for s in meta if s["name"] == "exchange-credentials")
    assert cred["keys"] == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    import base64
    for text in files.values():
        for value in (lab.api_key, lab.api_secret):
            assert value not in text
            assert base64.b64encode(value.encode()).decode() not in text
    objects = yaml.safe_load(files["objects.yaml"])
    assert {"Deployment", "Service", "NetworkPolicy", "HorizontalPodAutoscaler"} - {o["kind"] for o in objects} == {
        "HorizontalPodAutoscaler"}  # dev has no HPA
    assert all("managedFields" not in o["metadata"] and "status" not in o for o in objects)
    pvcs = yaml.safe_load(files["pvcs.yaml"])
    assert [p["metadata"]["name"] for p in pvcs] == ["bot4-trading-engine-journal"]


def test_backup_snapshots_need_the_snapshot_api(lab, tmp_path):
    proc = lab.play("backup", "dev", extra={"cluster_deploy_backup_dir": str(tmp_path),
                                            "cluster_deploy_backup_pvc_snapshots": True,
                                            "cluster_deploy_backup_snapshot_class": "csi-snapclass"})
    assert proc.returncode != 0
    assert "does not serve snapshot.storage.k8s.io/v1 VolumeSnapshot" in proc.stdout
    assert not (tmp_path / "dev").exists()


# --- cluster-scoped objects and a plain `kubectl apply -k` --------------------


def test_cluster_secret_store_survives_every_deploy(lab):
    """A ClusterSecretStore carries no namespace, so no deploy prunes it. The engine's
    envFrom follows external_secrets_target_secret."""
    vault = {"external_secrets_backend": "vault", "external_secrets_store_kind": "ClusterSecretStore",
             "external_secrets_target_secret": "exchange-credentials-vault",
             "external_secrets_store_name": "bot4-trading-dev-store",
             "external_secrets_vault_server": "https://vault.lab.invalid:8200",
             "external_secrets_vault_role": "bot4-trading-engine-dev"}
    try:
        for _attempt in range(2):
            lab.ok("deploy", "dev", extra=vault)
            store = lab.get("clustersecretstore", "bot4-trading-dev-store")
            assert "namespace" not in store["metadata"]
            assert store["metadata"]["labels"]["hft.bot4.io/applyset"] == "bot4-trading-engine-dev"
        inventory = _inventory(lab, "dev")
        assert "external-secrets.io/v1|ClusterSecretStore||bot4-trading-dev-store" in inventory, inventory
        es = lab.get("-n", "bot4-trading-dev", "externalsecret", "exchange-credentials-vault")
        assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "bot4-trading-dev-store"}
        assert es["spec"]["target"]["name"] == "exchange-credentials-vault"
        ctr = lab.deployment("dev")["spec"]["template"]["spec"]["containers"][0]
        assert ctr["envFrom"] == [{"secretRef": {"name": "exchange-credentials-vault"}}]
    finally:
        # Back to dev's static Secret: the store leaves the overlay and is pruned.
        lab.ok("deploy", "dev")
    assert not lab.exists("clustersecretstore", "bot4-trading-dev-store")
    ctr = lab.deployment("dev")["spec"]["template"]["spec"]["containers"][0]
    assert ctr["envFrom"] == [{"secretRef": {"name": "exchange-credentials"}}]


def test_emergency_stop_finds_an_engine_applied_with_kubectl(lab, tmp_path):
    """An engine applied by `kubectl apply -k` (no apply-set label) stops by name and label."""
    ns = "bot4-trading-kubectl"
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": ns,
        "resources": [os.path.relpath(REPO / "k8s" / "overlays" / "production", tmp_path)]}))
    try:
        lab.cluster.kubectl("apply", "-k", str(tmp_path))
        dep = lab.get("-n", ns, "deployment", "bot4-trading-engine")
        assert "hft.bot4.io/applyset" not in dep["metadata"]["labels"]
        # The HPA takes it to its minimum (the pods stay Pending: no volume).
        wait_for(lambda: lab.get("-n", ns, "deployment", "bot4-trading-engine")["spec"].get("replicas") == 5,
                 120, "the HPA to scale the engine to 5")
        lab.ok("emergency_stop", "production", extra={"cluster_deploy_namespace": ns})
        dep = lab.get("-n", ns, "deployment", "bot4-trading-engine")
        assert dep["spec"]["replicas"] == 0
        assert json.loads(dep["metadata"]["annotations"]["hft.bot4.io/emergency-stop-replicas"]) == {
            "bot4-trading-engine": 5}
        hpa = lab.get("-n", ns, "hpa", "bot4-trading-engine")
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)
        lab.ok("resume", "production", extra={"cluster_deploy_namespace": ns, "cluster_deploy_wait": False})
        hpa = lab.get("-n", ns, "hpa", "bot4-trading-engine")
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 20)
        assert lab.get("-n", ns, "deployment", "bot4-trading-engine")["spec"]["replicas"] == 5
    finally:
        lab.cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
