# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Paths, constants, the error type and the log of the lab cluster."""

from __future__ import annotations

import sys

from ..common import LAB_DIR, LabError

# lab/cluster/: the Go modules, fleet.yaml, bootstrap.yaml, kwok-stages.yaml.
CLUSTER_DIR = LAB_DIR / "cluster"

# Components in start order; `down` stops them in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

SERVICE_CIDR = "10.96.0.0/12"
SERVICE_IP = "10.96.0.1"  # first address of SERVICE_CIDR: the `kubernetes` Service
POD_CIDR = "10.244.0.0/16"
KWOK_POD_CIDR = "10.245.0.0/16"
# QEMU user networking maps 10.0.2.2 inside a VM to the host's loopback, so a
# lab VM's kubelet reaches the apiserver there.
VM_HOST_ADDRESS = "10.0.2.2"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FIELD_MANAGER = "bot4-clusterctl"


class ClusterError(LabError):
    """A failure worth a clear one-line message (plus a log tail) and exit 1."""


def log(msg: str) -> None:
    print(f"clusterctl: {msg}", file=sys.stderr, flush=True)
