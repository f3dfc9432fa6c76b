"""The engine's overlays and the deploy playbooks against the lab cluster.

Needs the lab cluster (tests/cluster/conftest.py: `lab_cluster`) and the
upstream CRDs in shared/crds (External Secrets Operator v2.9.0,
prometheus-operator v0.93): without shared/ these tests fail under CI=true or
BOT4_REQUIRE_SHARED=1 and are skipped, saying so, elsewhere.

The fixture adds kwok nodes so that production's 5 engines (one per node,
required anti-affinity) plus a canary fit, installs the CRDs server-side,
pre-binds a volume for each environment's journal PVC, and removes all of it
afterwards. Tests run in file order and build on each other (deploy ->
idempotence -> prune -> canary -> rollback -> stop/resume -> backup).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "k8s"))
from k8s_static import ansible_playbook, require_shared  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "production")
EXTRA_NODES = 4  # with the fixture's 3: 7 nodes = 5 engines + canary + spare
CRDS = (
    "crds/external-secrets-v2.9.0.yaml",
    "crds/monitoring.coreos.com_servicemonitors.yaml",
    "crds/monitoring.coreos.com_prometheusrules.yaml",
    "crds/monitoring.coreos.com_podmonitors.yaml",
)
DIGEST_A = "registry.invalid/bot4/engine@sha256:" + "a" * 64
DIGEST_B = "registry.invalid/bot4/engine@sha256:" + "b" * 64
DIGEST_C = "registry.invalid/bot4/engine@sha256:" + "c" * 64
CIDRS = "203.0.113.0/24,198.51.100.0/24"
CRD_PLAYBOOK = """
- name: Install the CRDs the overlays use
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the CRD bundles
      ansible.builtin.include_role:
        name: bot4.hft.cluster_deploy
        tasks_from: crds
"""


def wait_for(check, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def recap(output: str) -> dict[str, int]:
    tail = output.split("PLAY RECAP", 1)[1]
    match = re.search(r"bot4-\w+\s*:\s*(.*)", tail)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


class Lab:
    """Runs the project's playbooks against the lab cluster."""

    def __init__(self, cluster, tmp: Path):
        self.cluster = cluster
        self.tmp = tmp
        self.api_key = secrets.token_hex(16)
        self.api_secret = secrets.token_hex(32)

    def env(self, image: str) -> dict[str, str]:
        return {
            "BOT4_KUBECONFIG": str(self.cluster.kubeconfig),
            "BOT4_ENGINE_IMAGE": image,
            "BOT4_EXCHANGE_CIDRS": CIDRS,
            "BOT4_BINANCE_API_KEY": self.api_key,
            "BOT4_BINANCE_API_SECRET": self.api_secret,
        }

    def play(self, playbook: str, env_name: str, *args: str, image: str = DIGEST_A,
             extra: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
        # No ESO controller in the lab: do not wait for the sync.
        settings = {"external_secrets_verify": False, "cluster_deploy_wait_timeout": 180,
                    "cluster_deploy_canary_analysis_seconds": 6,
                    "cluster_deploy_canary_analysis_interval": 3,
                    "cluster_deploy_canary_timeout": 60, **(extra or {})}
        varsfile = self.tmp / f"vars-{time.monotonic_ns()}.json"
        varsfile.write_text(json.dumps(settings))
        argv = ["-i", f"inventories/{env_name}", f"playbooks/{playbook}.yml", "-e", f"@{varsfile}", *args]
        if check:
            argv.append("--check")
        proc = ansible_playbook(*argv, env=self.env(image))
        # Generated credentials must never reach the output.
        for value in (self.api_key, self.api_secret):
            assert value not in proc.stdout + proc.stderr, "a secret value was printed"
        return proc

    def ok(self, *a, **kw) -> subprocess.CompletedProcess:
        proc = self.play(*a, **kw)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        return proc

    def get(self, *args: str) -> dict:
        return self.cluster.kubectl_json("get", *args)

    def exists(self, *args: str) -> bool:
        return self.cluster.kubectl("get", *args, "-o", "name", check=False).returncode == 0

    def deployment(self, env_name: str, name: str = "bot4-engine") -> dict:
        return self.get("-n", f"bot4-{env_name}", "deployment", name)

    def wait_available(self, env_name: str, replicas: int, timeout: float = 180):
        def ready():
            d = self.deployment(env_name)
            s = d.get("status", {})
            return (d["spec"].get("replicas") == replicas
                    and s.get("availableReplicas") == replicas
                    and s.get("updatedReplicas") == replicas
                    and any(c["type"] == "Available" and c["status"] == "True"
                            for c in s.get("conditions", [])))
        wait_for(ready, timeout, f"bot4-{env_name} engine Available with {replicas} replicas")


@pytest.fixture(scope="module")
def lab(lab_cluster, clusterctl_module, tmp_path_factory):
    crd_paths = [require_shared(p) for p in CRDS]
    cluster = lab_cluster
    version = cluster.kubectl_json("version")["serverVersion"]["gitVersion"]
    existing = {n["metadata"]["name"] for n in cluster.kubectl_json("get", "nodes")["items"]}
    nodes = [n for n in clusterctl_module.fleet_nodes(len(existing) + EXTRA_NODES + 3, version)
             if n["metadata"]["name"] not in existing][:EXTRA_NODES]
    added = [n["metadata"]["name"] for n in nodes]
    try:
        cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
        # The CRDs go in through the role's own entry point (server-side apply).
        tmp = tmp_path_factory.mktemp("crds")
        (tmp / "crds.yml").write_text(CRD_PLAYBOOK)
        # One pre-bound volume per environment for the journal PVC (no
        # provisioner in the lab), through the same entry point.
        volumes = [{
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"bot4-lab-journal-{e}"},
            "spec": {"capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteMany"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                     "hostPath": {"path": f"/var/lib/bot4-lab/{e}"},
                     "claimRef": {"namespace": f"bot4-{e}", "name": "bot4-engine-journal"}},
        } for e in ENVIRONMENTS]
        (tmp / "vars.json").write_text(json.dumps({
            "cluster_deploy_kubeconfig": str(cluster.kubeconfig),
            "cluster_deploy_crd_files": [str(p) for p in crd_paths],
            "cluster_deploy_prerequisite_manifests": volumes}))
        proc = ansible_playbook("-i", "localhost,", "-c", "local", str(tmp / "crds.yml"),
                                "-e", f"@{tmp / 'vars.json'}",
                                "-e", "ansible_python_interpreter={{ ansible_playbook_python }}")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        for crd in ("externalsecrets.external-secrets.io", "secretstores.external-secrets.io",
                    "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
            assert cluster.kubectl("get", "crd", crd, check=False).returncode == 0, crd
        for e in ENVIRONMENTS:
            assert cluster.kubectl("get", "pv", f"bot4-lab-journal-{e}", check=False).returncode == 0, e

        def tuned_ready():
            items = cluster.kubectl_json("get", "nodes", "-l", "hft.bot4.io/tuned=true")["items"]
            return sum(1 for n in items for c in n["status"].get("conditions", [])
                       if c["type"] == "Ready" and c["status"] == "True") >= len(existing) + EXTRA_NODES - 1
        wait_for(tuned_ready, 120, "the added kwok nodes to be Ready")
        yield Lab(cluster, tmp_path_factory.mktemp("deploy"))
    finally:
        for e in ENVIRONMENTS:
            cluster.kubectl("delete", "namespace", f"bot4-{e}", "--ignore-not-found", "--wait=false", check=False)
            cluster.kubectl("delete", "priorityclass", f"bot4-engine-{e}", "--ignore-not-found", check=False)
            cluster.kubectl("delete", "pv", f"bot4-lab-journal-{e}", "--ignore-not-found", "--wait=false", check=False)
        if added:
            cluster.kubectl("delete", "node", *added, "--ignore-not-found", check=False)


# --- bad input: fails before anything changes --------------------------------


@pytest.mark.parametrize(
    ("env_name", "kwargs", "message"),
    [
        ("dev", {"extra": {"cluster_deploy_environment": "qa"}}, "cluster_deploy_environment"),
        ("dev", {"image": ""}, "cluster_deploy_image: must name the engine image"),
        ("production", {"image": "registry.invalid/bot4/engine:latest"}, "has no @sha256 digest"),
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
    assert not lab.exists("namespace", f"bot4-{env_name}")


def test_missing_crds_fail_before_any_change(lab):
    """The preflight names the unserved kinds; simulated with a made-up kind."""
    patch = {"target": {"kind": "Service", "name": "bot4-engine"},
             "patch": json.dumps([{"op": "replace", "path": "/apiVersion", "value": "example.invalid/v1"}])}
    proc = lab.play("deploy", "dev", extra={"cluster_deploy_extra_patches": [patch]})
    assert proc.returncode != 0
    assert "The cluster does not serve Service (example.invalid/v1)" in proc.stdout, proc.stdout[-3000:]
    assert not lab.exists("namespace", "bot4-dev")


def test_dry_run_of_a_fresh_environment_creates_nothing(lab):
    proc = lab.ok("deploy", "dev", check=True)
    assert "does not exist yet" in proc.stdout
    assert not lab.exists("namespace", "bot4-dev")
    assert not lab.exists("priorityclass", "bot4-engine-dev")


# --- every overlay applies, dry-runs, and is idempotent ----------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_overlay_applies_and_becomes_available(lab, env_name):
    first = lab.ok("deploy", env_name)
    assert recap(first.stdout)["changed"] > 0
    lab.wait_available(env_name, {"dev": 1, "staging": 3, "production": 5}[env_name])
    dep = lab.deployment(env_name)
    ctr = dep["spec"]["template"]["spec"]["containers"][0]
    assert ctr["image"] == DIGEST_A
    fields = lab.get("-n", f"bot4-{env_name}", "deployment", "bot4-engine", "--show-managed-fields")
    managers = {m["manager"] for m in fields["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert "bot4-hft" in managers
    pods = lab.get("-n", f"bot4-{env_name}", "pods", "-l", "app.kubernetes.io/name=bot4-engine")["items"]
    assert all(p["spec"]["nodeName"].startswith("kwok-") for p in pods)
    if env_name != "dev":
        assert {p["status"]["qosClass"] for p in pods} == {"Guaranteed"}
    if env_name == "production":
        assert len({p["spec"]["nodeName"] for p in pods}) == len(pods), "two engines on one node"
    # The exchange CIDRs from the inventory replaced the placeholder.
    pol = lab.get("-n", f"bot4-{env_name}", "networkpolicy", "bot4-engine-egress-exchange")
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
    sec = lab.get("-n", "bot4-dev", "secret", "bot4-exchange-credentials")
    assert sorted(sec["data"]) == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    # production: accepted by the real ESO and prometheus-operator CRDs.
    store = lab.get("-n", "bot4-production", "secretstore", "bot4-secret-store")
    assert store["spec"]["provider"]["vault"]["auth"]["kubernetes"]["role"] == "bot4-engine-production"
    es = lab.get("-n", "bot4-production", "externalsecret", "bot4-exchange-credentials")
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    assert lab.exists("-n", "bot4-production", "servicemonitor", "bot4-engine")
    rule = lab.get("-n", "bot4-production", "prometheusrule", "bot4-engine")
    alerts = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"Bot4DrawdownCircuitBreaker", "Bot4DecisionLatencyP99High", "Bot4ErrorRateHigh"} <= alerts
    assert not lab.exists("-n", "bot4-production", "secret", "bot4-exchange-credentials")


# --- pruning ----------------------------------------------------------------


def _inventory(lab, env_name):
    cm = lab.get("-n", f"bot4-{env_name}", "configmap", "bot4-engine-applyset")
    return json.loads(cm["data"]["objects"])


def test_objects_removed_from_the_overlay_are_pruned(lab):
    def drop(kind, name, api):
        return {"target": {"kind": kind, "name": name},
                "patch": yaml.safe_dump({"$patch": "delete", "apiVersion": api, "kind": kind,
                                         "metadata": {"name": name}})}

    pdb = "policy/v1|PodDisruptionBudget|bot4-staging|bot4-engine"
    netpol = "networking.k8s.io/v1|NetworkPolicy|bot4-staging|bot4-engine-ingress-metrics"
    assert {pdb, netpol} <= set(_inventory(lab, "staging"))
    # An object of the set whose inventory entry was lost is found by label.
    lab.cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "stray", "namespace": "bot4-staging",
                                    "labels": {"hft.bot4.io/applyset": "bot4-engine-staging"}}})
    # An object someone else has taken over (label changed) is never deleted.
    lab.cluster.kubectl("label", "--overwrite", "-n", "bot4-staging", "networkpolicy",
                        "bot4-engine-ingress-metrics", "hft.bot4.io/applyset=someone-else")
    lab.ok("deploy", "staging", extra={"cluster_deploy_extra_patches": [
        drop("PodDisruptionBudget", "bot4-engine", "policy/v1"),
        drop("NetworkPolicy", "bot4-engine-ingress-metrics", "networking.k8s.io/v1")]})
    assert not lab.exists("-n", "bot4-staging", "pdb", "bot4-engine")
    assert not lab.exists("-n", "bot4-staging", "configmap", "stray")
    assert lab.exists("-n", "bot4-staging", "networkpolicy", "bot4-engine-ingress-metrics")
    assert not {pdb, netpol} & set(_inventory(lab, "staging"))
    # Back in the overlay: recreated (or taken back) and tracked again.
    lab.ok("deploy", "staging")
    assert lab.exists("-n", "bot4-staging", "pdb", "bot4-engine")
    pol = lab.get("-n", "bot4-staging", "networkpolicy", "bot4-engine-ingress-metrics")
    assert pol["metadata"]["labels"]["hft.bot4.io/applyset"] == "bot4-engine-staging"
    assert {pdb, netpol} <= set(_inventory(lab, "staging"))


def test_prune_never_touches_other_environments(lab):
    for env_name in ENVIRONMENTS:
        assert lab.exists("priorityclass", f"bot4-engine-{env_name}")
        assert lab.exists("-n", f"bot4-{env_name}", "deployment", "bot4-engine")


def _image(lab, env_name):
    return lab.deployment(env_name)["spec"]["template"]["spec"]["containers"][0]["image"]


# --- canary ------------------------------------------------------------------


def test_canary_promotes_a_healthy_template(lab):
    rev_before = int(lab.deployment("production")["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    proc = lab.ok("canary", "production", image=DIGEST_B)
    assert "Apply the canary" in proc.stdout
    assert not lab.exists("-n", "bot4-production", "deployment", "bot4-engine-canary")
    dep = lab.deployment("production")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == DIGEST_B
    assert int(dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) == rev_before + 1
    lab.wait_available("production", 5)
    assert not any(k.endswith("|bot4-engine-canary") for k in _inventory(lab, "production"))
    # Unchanged template: no canary, nothing changes.
    again = lab.ok("canary", "production", image=DIGEST_B)
    assert "Apply the canary" not in again.stdout
    assert recap(again.stdout)["changed"] == 0, again.stdout[-4000:]


def test_canary_failure_rolls_back_and_fails(lab):
    """A canary that never becomes available (unschedulable) is removed; stable untouched."""
    unschedulable = {"target": {"kind": "Deployment", "name": "bot4-engine"},
                     "patch": json.dumps([{"op": "add", "path": "/spec/template/spec/nodeSelector/hft.bot4.io~1missing",
                                           "value": "true"}])}
    before = lab.deployment("production")
    proc = lab.play("canary", "production", image=DIGEST_C,
                    extra={"cluster_deploy_extra_patches": [unschedulable], "cluster_deploy_canary_timeout": 20})
    assert proc.returncode != 0
    assert "failed in the canary phase" in proc.stdout, proc.stdout[-4000:]
    assert "The stable engine was never changed" in proc.stdout
    assert not lab.exists("-n", "bot4-production", "deployment", "bot4-engine-canary")
    after = lab.deployment("production")
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert not any(k.endswith("|bot4-engine-canary") for k in _inventory(lab, "production"))
    lab.wait_available("production", 5)


def test_failed_promotion_rolls_the_engine_back_and_fails(lab):
    """The canary passes, the stable rollout cannot finish: rolled back, run fails.

    The new template may have at most one pod per zone (required anti-affinity
    on topology.kubernetes.io/zone against its own new label), so the canary
    fits but the rollout of five engines gets stuck."""
    zone_limited = {"target": {"kind": "Deployment", "name": "bot4-engine"}, "patch": json.dumps([
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
    assert not lab.exists("-n", "bot4-production", "deployment", "bot4-engine-canary")
    assert _image(lab, "production") == before
    lab.wait_available("production", 5)
    dep = lab.deployment("production")
    assert dep["metadata"]["annotations"]["hft.bot4.io/template-hash"].startswith("rolled-back-to-")
    assert "hft.bot4.io/probe" not in dep["spec"]["template"]["metadata"]["labels"]


# --- rollback ----------------------------------------------------------------


def _revisions(lab):
    return {int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]):
            rs["spec"]["template"]["spec"]["containers"][0]["image"]
            for rs in lab.get("-n", "bot4-production", "replicasets",
                              "-l", "app.kubernetes.io/name=bot4-engine")["items"]}


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
    assert lab.exists("-n", "bot4-production", "configmap", cm)
    bad = lab.play("rollback", "production", extra={"cluster_deploy_rollback_revision": 999})
    assert bad.returncode != 0
    assert "cluster_deploy_rollback_revision=999: no such revision" in bad.stdout
    lab.wait_available("production", 5)


# --- emergency stop and resume ----------------------------------------------


def test_emergency_stop_holds_and_resume_restores(lab):
    lab.ok("emergency_stop", "production")
    dep = lab.deployment("production")
    assert dep["spec"]["replicas"] == 0
    assert json.loads(dep["metadata"]["annotations"]["hft.bot4.io/emergency-stop-replicas"]) == {"bot4-engine": 5}
    hpa = lab.get("-n", "bot4-production", "hpa", "bot4-engine")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)
    assert not lab.get("-n", "bot4-production", "pods", "-l", "app.kubernetes.io/name=bot4-engine")["items"]
    # The HPA controller has synced since the stop (it reports ScalingDisabled
    # for a target at zero replicas; before the stop it reported missing
    # metrics) and the engine is still at zero.

    def hpa_saw_the_stop():
        status = lab.get("-n", "bot4-production", "hpa", "bot4-engine").get("status", {})
        return [c for c in status.get("conditions", [])
                if c["type"] == "ScalingActive" and c["reason"] == "ScalingDisabled"]
    wait_for(hpa_saw_the_stop, 90, "the HPA to sync with the stopped engine")
    assert lab.deployment("production")["spec"]["replicas"] == 0
    # A second stop changes nothing; a deploy is refused while stopped.
    again = lab.ok("emergency_stop", "production")
    assert recap(again.stdout)["changed"] == 0, again.stdout[-4000:]
    assert json.loads(lab.deployment("production")["metadata"]["annotations"][
        "hft.bot4.io/emergency-stop-replicas"]) == {"bot4-engine": 5}
    refused = lab.play("deploy", "production", image=DIGEST_B)
    assert refused.returncode != 0 and "is under an emergency stop" in refused.stdout
    lab.ok("resume", "production", image=DIGEST_B)
    lab.wait_available("production", 5)
    hpa = lab.get("-n", "bot4-production", "hpa", "bot4-engine")
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
    cred = next(s for s in meta if s["name"] == "bot4-exchange-credentials")
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
    assert [p["metadata"]["name"] for p in pvcs] == ["bot4-engine-journal"]


def test_backup_snapshots_need_the_snapshot_api(lab, tmp_path):
    proc = lab.play("backup", "dev", extra={"cluster_deploy_backup_dir": str(tmp_path),
                                            "cluster_deploy_backup_pvc_snapshots": True,
                                            "cluster_deploy_backup_snapshot_class": "csi-snapclass"})
    assert proc.returncode != 0
    assert "does not serve snapshot.storage.k8s.io/v1 VolumeSnapshot" in proc.stdout
    assert not (tmp_path / "dev").exists()
