# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated fleet: kwok and the Node objects of lab/cluster/fleet.yaml."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from .api import Api, kubectl, node_ready
from .common import CLUSTER_DIR, KWOK_NODE_ANNOTATION, KWOK_POD_CIDR
from .state import Lab, wait_for


def fleet_nodes(count: int, version: str,
                fleet_file: Path = CLUSTER_DIR / "fleet.yaml") -> list[dict]:
    """Node objects for `count` simulated tuned HFT workers from fleet.yaml."""
    fleet = yaml.safe_load(fleet_file.read_text())
    nodes = []
    for index in range(count):
        name = f"{fleet['namePrefix']}{index}"
        zone = fleet["zones"][index % len(fleet["zones"])]
        labels = {**fleet["labels"], "kubernetes.io/hostname": name,
                  "topology.kubernetes.io/zone": zone}
        annotations = {**fleet.get("annotations", {}), KWOK_NODE_ANNOTATION: "fake",
                       "node.alpha.kubernetes.io/ttl": "0"}
        address = fleet["addressPrefix"] + str(10 + index)
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": {"taints": fleet.get("taints", [])},
            "status": {
                "capacity": fleet["capacity"], "allocatable": fleet["allocatable"],
                "addresses": [{"type": "InternalIP", "address": address},
                              {"type": "Hostname", "address": name}],
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                             "kubeletVersion": version, "kubeProxyVersion": "",
                             "containerRuntimeVersion": "kwok://simulated",
                             "kernelVersion": fleet.get("kernelVersion", ""),
                             "osImage": fleet.get("osImage", ""), "machineID": "",
                             "systemUUID": "", "bootID": ""},
            },
        })
    return nodes


def start_kwok(lab: Lab, bins: dict[str, Path], kubeconfig: Path, kwok_nodes: int, version: str,
               admin_api: Api, timeout: float) -> None:
    """Start kwok, create kwok_nodes simulated nodes and wait until they are Ready."""
    # kwok only manages the nodes annotated as fake, so a real kubelet (the lab
    # VM) can join the same cluster. HOME points into the lab so a user's
    # ~/.kwok/kwok.yaml is not read.
    kwok_home = lab.dir / "kwok-home"
    kwok_home.mkdir()
    lab.start("kwok", [
        str(bins["kwok"]), f"--kubeconfig={kubeconfig}",
        f"--config={CLUSTER_DIR / 'kwok-stages.yaml'}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        "--node-lease-duration-seconds=40", f"--cidr={KWOK_POD_CIDR}",
        "--node-ip=10.77.0.1",
    ], env={**os.environ, "HOME": str(kwok_home)})
    if kwok_nodes:
        nodes = {"apiVersion": "v1", "kind": "List", "items": fleet_nodes(kwok_nodes, version)}
        kubectl(lab, bins, "create", "-f", "-", stdin=json.dumps(nodes))

    def nodes_ready() -> tuple[bool, str]:
        data = admin_api.get_json("/api/v1/nodes?labelSelector=type%3Dkwok") or {"items": []}
        ready = [n["metadata"]["name"] for n in data["items"] if node_ready(n)]
        return len(ready) >= kwok_nodes, f"{len(ready)}/{kwok_nodes} kwok nodes Ready"

    wait_for("kwok nodes Ready", nodes_ready, timeout, lab,
             ("kube-apiserver", "kube-controller-manager", "kwok"))
