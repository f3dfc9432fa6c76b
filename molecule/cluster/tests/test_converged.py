"""What converge must have left in the scenario's cluster (BOT4_KUBECONFIG)."""

from __future__ import annotations

import os

import pytest
from kubernetes import client, config


@pytest.fixture(scope="module")
def api() -> client.ApiClient:
    kubeconfig = os.environ.get("BOT4_KUBECONFIG")
    assert kubeconfig, "BOT4_KUBECONFIG must name the scenario's admin kubeconfig"
    return config.new_client_from_config(config_file=kubeconfig)


def test_engine_deployment_available(api):
    dep = client.AppsV1Api(api).read_namespaced_deployment("engine-sim", "bot4-engine")
    assert dep.status.available_replicas == 3
    available = [c for c in dep.status.conditions if c.type == "Available"]
    assert available and available[0].status == "True"


def test_engine_pods_run_guaranteed_on_tuned_nodes(api):
    core = client.CoreV1Api(api)
    tuned = {n.metadata.name for n in
             core.list_node(label_selector="hft.bot4.io/tuned=true").items}
    pods = core.list_namespaced_pod("bot4-engine",
                                    label_selector="app.kubernetes.io/name=engine-sim").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name in tuned
        assert pod.status.qos_class == "Guaranteed"


def test_namespace_enforces_restricted_pod_security(api):
    ns = client.CoreV1Api(api).read_namespace("bot4-engine")
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_trading_nodes_ready(api):
    nodes = client.CoreV1Api(api).list_node(label_selector="hft.bot4.io/node-group=trading").items
    assert len(nodes) == 3
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready[0].status == "True"
