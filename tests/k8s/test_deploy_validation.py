"""Bad deploy settings fail in validation, before any cluster access.

No cluster is needed: the kubeconfig points at a file that does not exist, so
a run that got past validation would fail differently."""

from __future__ import annotations

import json

import pytest
from k8s_static import ansible_playbook

GOOD = {
    "BOT4_ENGINE_IMAGE": "bot4/trading-engine@sha256:" + "a" * 64,
    "BOT4_EXCHANGE_CIDRS": "203.0.113.0/24",
    "BOT4_BINANCE_API_KEY": "k",
    "BOT4_BINANCE_API_SECRET": "s",
    "BOT4_KUBECONFIG": "/nonexistent/kubeconfig",
}


@pytest.mark.parametrize(
    ("inventory", "env", "extra", "message"),
    [
        ("dev", {}, {"cluster_deploy_environment": "qa"},
         "value of cluster_deploy_environment must be one of: dev, staging, production, got: qa"),
        ("dev", {"BOT4_ENGINE_IMAGE": ""}, {}, "cluster_deploy_image: must name the engine image"),
        ("dev", {"BOT4_ENGINE_IMAGE": "Registry With Spaces"}, {}, "is not an image reference"),
        ("production", {"BOT4_ENGINE_IMAGE": "bot4/trading-engine:1.0"}, {},
         "has no @sha256 digest, which cluster_deploy_require_image_digest requires"),
        ("production", {"BOT4_EXCHANGE_CIDRS": ""}, {},
         "cluster_deploy_exchange_egress_cidrs: production needs the exchange endpoints' CIDRs"),
        ("production", {"BOT4_EXCHANGE_CIDRS": "192.0.2.0/24"}, {}, "documentation placeholder"),
        ("staging", {"BOT4_EXCHANGE_CIDRS": "300.1.1.1/24"}, {}, "\"300.1.1.1/24\" is not a CIDR"),
        ("staging", {}, {"cluster_deploy_extra_manifests": [{"kind": "ConfigMap"}]},
         "lacks apiVersion, kind or metadata.name"),
        ("staging", {"BOT4_BINANCE_API_SECRET": ""}, {},
         "external_secrets_static_data.BINANCE_API_SECRET: missing or empty"),
    ],
    ids=["environment", "image-empty", "image-syntax", "digest", "cidrs-empty", "cidr-placeholder",
         "cidr-syntax", "extra-manifest", "static-secret"],
)
def test_bad_settings_fail_before_the_cluster(tmp_path, inventory, env, extra, message):
    varsfile = tmp_path / "vars.json"
    varsfile.write_text(json.dumps({"external_secrets_verify": False, **extra}))
    proc = ansible_playbook("-i", f"inventories/{inventory}", "playbooks/deploy.yml",
                            "-e", f"@{varsfile}", env={**GOOD, **env})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out, out[-3000:]
    assert "nonexistent" not in out, "the run reached the cluster access"
