"""The external_secrets role's objects, built without a cluster, against the
real External Secrets Operator CRDs (v2.9.0, shared/crds), and its input
validation."""

from __future__ import annotations

import json
import secrets

import jsonschema
import pytest
import yaml
from k8s_static import REPO, ansible_playbook, require_shared

ESO_CRDS = "crds/external-secrets-v2.9.0.yaml"
REPO_K8S = REPO / "k8s"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: bot4.hft.external_secrets
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ external_secrets_manifests | to_json }}"
        mode: "0600"
"""

VAULT = {
    "external_secrets_backend": "vault",
    "external_secrets_environment": "production",
    "external_secrets_namespace": "bot4-trading",
    "external_secrets_vault_server": "https://vault.example.test:8200",
    "external_secrets_vault_role": "bot4-trading-engine-production",
}
AWS = {
    "external_secrets_backend": "aws",
    "external_secrets_environment": "production",
    "external_secrets_namespace": "bot4-trading",
    "external_secrets_aws_region": "eu-west-1",
    "external_secrets_aws_role_arn": "arn:aws:iam::123456789012:role/bot4-trading-engine",
}


def _build(tmp_path, extra: dict):
    pb = tmp_path / "build.yml"
    pb.write_text(PLAYBOOK)
    out = tmp_path / "manifests.json"
    varsfile = tmp_path / "vars.json"
    varsfile.write_text(json.dumps({**extra, "out": str(out)}))
    proc = ansible_playbook("-i", "localhost,", "-c", "local", str(pb), "-e", f"@{varsfile}",
                            "-e", "ansible_python_interpreter={{ ansible_playbook_python }}", "-v")
    return proc, (json.loads(out.read_text()) if out.exists() else None)


@pytest.fixture(scope="module")
def eso_schemas():
    """Needs shared/crds/external-secrets-v2.9.0.yaml (ESO v2.9.0 CRD bundle)."""
    path = require_shared(ESO_CRDS)
    schemas = {}
    for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        for ver in doc["spec"]["versions"]:
            if ver["name"] == "v1" and ver.get("served"):
                schemas[doc["spec"]["names"]["kind"]] = ver["schema"]["openAPIV3Schema"]
    assert {"SecretStore", "ClusterSecretStore", "ExternalSecret"} <= set(schemas)
    return schemas


def _validate(doc, schema):
    from test_security import _strict

    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(_strict(schema)).iter_errors(doc)]
    assert not errors, f"{doc['kind']}: {errors}"


@pytest.mark.parametrize(
    ("settings", "store_kind"),
    [(VAULT, "SecretStore"), (AWS, "SecretStore"),
     ({**VAULT, "external_secrets_store_kind": "ClusterSecretStore"}, "ClusterSecretStore")],
    ids=["vault", "aws", "vault-cluster-store"],
)
def test_eso_objects_match_the_crds(tmp_path, eso_schemas, settings, store_kind):
    proc, docs = _build(tmp_path, settings)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceAccount", store_kind, "ExternalSecret"]
    store, es = docs[1], docs[2]
    _validate(store, eso_schemas[store_kind])
    _validate(es, eso_schemas["ExternalSecret"])
    assert store["apiVersion"] == es["apiVersion"] == "external-secrets.io/v1"
    assert es["spec"]["secretStoreRef"] == {"kind": store_kind, "name": store["metadata"]["name"]}
    assert es["spec"]["target"]["name"] == "exchange-credentials"
    assert [d["secretKey"] for d in es["spec"]["data"]] == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    provider = store["spec"]["provider"]
    if settings["external_secrets_backend"] == "vault":
        auth = provider["vault"]["auth"]["kubernetes"]
        assert auth["role"] == "bot4-trading-engine-production"
        assert auth["serviceAccountRef"]["name"] == docs[0]["metadata"]["name"]
        assert ("namespace" in auth["serviceAccountRef"]) == (store_kind == "ClusterSecretStore")
    else:
        assert provider["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"] == docs[0]["metadata"]["name"]
        assert docs[0]["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/bot4-trading-engine"}


def test_static_secret_values_are_never_printed(tmp_path):
    key, secret = secrets.token_hex(12), secrets.token_hex(24)
    proc, docs = _build(tmp_path, {
        "external_secrets_backend": "static",
        "external_secrets_environment": "dev",
        "external_secrets_namespace": "bot4-trading-dev",
        "external_secrets_static_data": {"BINANCE_API_KEY": key, "BINANCE_API_SECRET": secret},
    })
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert docs == []
    for value in (key, secret):
        assert value not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"external_secrets_backend": "gcp"}, "external_secrets_backend"),
        ({**VAULT, "external_secrets_vault_server": "http://vault:8200"}, "external_secrets_vault_server: must be the https:// URL"),
        ({**VAULT, "external_secrets_vault_role": ""}, "external_secrets_vault_role: must name"),
        ({**AWS, "external_secrets_aws_region": "mars-1"}, "external_secrets_aws_region: must be an AWS region"),
        ({**AWS, "external_secrets_aws_role_arn": "bot4"}, "external_secrets_aws_role_arn: must be the IAM role ARN"),
        ({"external_secrets_backend": "static", "external_secrets_environment": "production",
          "external_secrets_namespace": "bot4-trading",
          "external_secrets_static_data": {"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}},
         "external_secrets_backend: production takes its credentials from External Secrets"),
        ({"external_secrets_backend": "static", "external_secrets_environment": "dev",
          "external_secrets_namespace": "bot4-trading-dev", "external_secrets_static_data": {"BINANCE_API_KEY": "k"}},
         "external_secrets_static_data.BINANCE_API_SECRET: missing or empty"),
        ({**VAULT, "external_secrets_keys": ["BINANCE-API-KEY"]}, "is not an environment variable name"),
    ],
    ids=["backend", "vault-http", "vault-role", "aws-region", "aws-arn", "static-in-production",
         "static-missing-key", "key-name"],
)
def test_bad_secret_settings_fail_early_and_name_the_variable(tmp_path, settings, message):
    proc, docs = _build(tmp_path, settings)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert docs is None


def test_the_role_builds_the_production_file_s_objects(tmp_path):
    """With production's inventory settings the role yields exactly the objects of
    k8s/overlays/production/external-secrets.yaml (the file is the one source)."""
    inventory = yaml.safe_load((REPO / "inventories" / "production" / "group_vars" / "bot4_cluster" / "main.yml").read_text())
    settings = {k: v for k, v in inventory.items() if k.startswith("external_secrets_")}
    proc, docs = _build(tmp_path, {**settings, "external_secrets_environment": "production",
                                   "external_secrets_namespace": "bot4-trading"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    source = [d for d in yaml.safe_load_all((REPO / "k8s" / "overlays" / "production" / "external-secrets.yaml").read_text()) if d]
    for doc in docs:
        if not doc["metadata"].get("annotations"):
            doc["metadata"].pop("annotations", None)
    assert docs == source


def test_a_changed_source_file_changes_what_the_role_builds(tmp_path):
    source = yaml.safe_load_all((REPO_K8S / "overlays" / "production" / "external-secrets.yaml").read_text())
    docs = [d for d in source if d]
    for d in docs:
        if d["kind"] == "ExternalSecret":
            d["spec"]["target"]["template"] = {"engineVersion": "v2", "type": "Opaque"}
    path = tmp_path / "es.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc, built = _build(tmp_path, {**VAULT, "external_secrets_source_file": str(path)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert built[2]["spec"]["target"]["template"] == {"engineVersion": "v2", "type": "Opaque"}
