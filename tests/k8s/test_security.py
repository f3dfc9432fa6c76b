"""Security scan (checkov, offline) and schema validation of the rendered overlays."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from k8s_static import ENVIRONMENTS, REPO, require_shared

CHECKOV_CONFIG = REPO / "tests" / "k8s" / "checkov.yaml"
KUBERNETES_VERSION = "1.34.0"
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "crds/monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "crds/monitoring.coreos.com_prometheusrules.yaml",
    ("external-secrets.io/v1", "SecretStore"): "crds/external-secrets-v2.9.0.yaml",
    ("external-secrets.io/v1", "ExternalSecret"): "crds/external-secrets-v2.9.0.yaml",
}


def test_every_skipped_check_is_justified():
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skips = yaml.safe_load(CHECKOV_CONFIG.read_text())["skip-check"]
    for check in skips:
        idx = lines.index(f"  - {check}")
        assert lines[idx - 1].strip().startswith("#"), f"{check} has no reason above it"


def test_every_skipped_check_is_justified_in_the_deploy_doc():
    """docs/deploy.md lists exactly the checks checkov.yaml skips, each with its reason."""
    skips = set(yaml.safe_load(CHECKOV_CONFIG.read_text())["skip-check"])
    doc = (REPO / "docs" / "deploy.md").read_text()
    section = doc.split("## checkov: what remains, and why", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\* `(CKV_[A-Z0-9_]+)` \(", section, re.M))
    assert documented == skips, (documented, skips)
    assert "EndpointSlice" in section.split("`CKV_K8S_38`", 1)[1].split("\n* ", 1)[0]


def test_checkov_finds_nothing_unexplained(rendered_text, scan_venv, tmp_path):
    for env, path in rendered_text.items():
        shutil.copy(path, tmp_path / f"{env}.yaml")
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE")
    proc = subprocess.run(
        [str(scan_venv / "bin" / "checkov"), "--config-file", str(CHECKOV_CONFIG),
         "-d", str(tmp_path), "-o", "json"],
        capture_output=True, text=True, check=False, env=env, timeout=600,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for r in reports for c in r["results"]["failed_checks"]
    ]
    passed = sum(r["summary"]["passed"] for r in reports)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports), reports
    assert not failed, "\n".join(failed)
    assert passed > 50, "checkov ran almost no checks: is the kubernetes framework active?"
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_builtin_kinds_match_the_kubernetes_schema(rendered_text, scan_venv, env):
    proc = subprocess.run(
        [str(scan_venv / "bin" / "kubernetes-validate"), "--strict",
         "-k", KUBERNETES_VERSION, str(rendered_text[env])],
        capture_output=True, text=True, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    passed = re.findall(r"^INFO .* passed for resource (\S+)", out, re.M)
    unknown = re.findall(r"Couldn't find schema for kind (\S+) with api version (\S+)", out)
    assert passed, out
    assert {(api, kind) for kind, api in unknown} <= set(CUSTOM_KINDS), unknown


def _crd_schema(crd_path, kind, version):
    for doc in yaml.safe_load_all(crd_path.read_text()):
        if doc and doc["kind"] == "CustomResourceDefinition" and doc["spec"]["names"]["kind"] == kind:
            for ver in doc["spec"]["versions"]:
                if ver["name"] == version:
                    assert ver["served"], f"{kind} {version} is not served by this CRD"
                    return ver["schema"]["openAPIV3Schema"]
    raise AssertionError(f"{kind} {version} not in {crd_path}")


def _strict(schema):
    """Reject unknown fields as `kubectl apply --validate=strict` does.

    The API server prunes fields a structural schema does not declare, so a
    misspelt field would vanish silently; here it fails.
    """
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.mark.parametrize("env", ("staging", "production"))
def test_custom_resources_match_the_upstream_crds(rendered, env):
    """Needs shared/crds (prometheus-operator v0.93 and ESO v2.9.0 CRDs)."""
    checked = 0
    for doc in rendered[env]:
        key = (doc["apiVersion"], doc["kind"])
        if key not in CUSTOM_KINDS:
            continue
        crd = require_shared(CUSTOM_KINDS[key])
        schema = _crd_schema(crd, doc["kind"], doc["apiVersion"].split("/")[1])
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(_strict(schema)).iter_errors(doc)
        ]
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}: {errors}"
        checked += 1
    # ServiceMonitor and PrometheusRule; production also SecretStore and ExternalSecret.
    assert checked == {"staging": 2, "production": 4}[env]
