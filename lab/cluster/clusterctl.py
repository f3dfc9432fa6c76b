#!/usr/bin/env python3
"""Build, start and stop the bot4.hft lab Kubernetes cluster.

The cluster runs on the host's loopback: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from the Go module proxy
(lab/cluster/kube/go.mod), plus kwok simulating a fleet of tuned HFT worker
nodes (lab/cluster/fleet.yaml). Every lab has its own CA, certificates and
ports, generated at `up` time under ${BOT4_LAB_DIR:-<repo>/.lab}/cluster-NAME/.

    clusterctl.py build                       build (or reuse) the cached binaries
    clusterctl.py up [--name N] [--kwok-nodes 3]
    clusterctl.py status [--name N]           JSON; exit 0 only when healthy
    clusterctl.py kubeconfig [--name N]       print the admin kubeconfig path
    clusterctl.py kubectl [--name N] -- ARGS  run the built kubectl as admin
    clusterctl.py node-credentials NODE       client/serving certs for a real kubelet
    clusterctl.py down [--name N] [--purge]

The code is the package lab/bot4lab/cluster/ (build, images, pki, state, api,
controlplane, kwok, join); this file is its command line.

Only the standard library and PyYAML are used, so the tool runs with the
system python3 as well as the project's virtualenv.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot4lab.common import LabError  # noqa: E402
from bot4lab.cluster import controlplane  # noqa: E402
from bot4lab.cluster.build import NODE_PACKAGES, build, ensure_built, node_spec  # noqa: E402
from bot4lab.cluster.common import VM_HOST_ADDRESS, ClusterError, log  # noqa: E402
from bot4lab.cluster.images import build_images  # noqa: E402
from bot4lab.cluster.join import join_node, node_credentials, vm_nodes  # noqa: E402
from bot4lab.cluster.state import Lab  # noqa: E402


def cmd_build(args: argparse.Namespace) -> int:
    result: dict = {"bin": {k: str(v) for k, v in ensure_built(force=args.force).items()}}
    if args.images:
        result["images"] = str(build_images(force=args.force))
    if args.node:
        node_bin = build(node_spec(), force=args.force)
        result["node_bin"] = {name: str(node_bin / name) for name in NODE_PACKAGES}
    print(json.dumps(result, indent=2))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    controlplane.up(lab, args.kwok_nodes, args.timeout, args.advertise_address)
    print(lab.admin_kubeconfig)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = controlplane.lab_status(Lab(args.name))
    print(json.dumps(status, indent=2))
    return 0 if status["healthy"] else 1


def cmd_down(args: argparse.Namespace) -> int:
    controlplane.down(Lab(args.name), args.grace, args.purge)
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.admin_kubeconfig.exists() or not lab.alive("kube-apiserver"):
        raise ClusterError(f"cluster {lab.name} is not running (clusterctl.py up --name {lab.name})")
    print(lab.admin_kubeconfig)
    return 0


def cmd_kubectl(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    meta = lab.meta()
    if not meta:
        raise ClusterError(f"cluster {lab.name} has never been started")
    argv = [meta["bin"]["kubectl"], "--kubeconfig", str(lab.admin_kubeconfig), *args.args]
    return subprocess.call(argv)


def cmd_node_credentials(args: argparse.Namespace) -> int:
    """Credentials for a real kubelet (the lab VM): a client certificate for
    system:node:NODE signed by the lab CA, a serving certificate, and a
    kubeconfig that reaches the apiserver from a QEMU guest at 10.0.2.2."""
    print(node_credentials(Lab(args.name), args.node, tuple(args.ip or ()), args.server_host))
    return 0


def cmd_join_node(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.alive("kube-apiserver"):
        raise ClusterError(f"cluster {lab.name} is not running (clusterctl.py up --name {lab.name})")
    status, vms = vm_nodes(args.lab, args.node)
    joined = [join_node(lab, status, vm, args.timeout) for vm in vms]
    print(json.dumps({"cluster": lab.name, "lab": args.lab, "nodes": joined}, indent=2))
    return 0


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clusterctl.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def with_name(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--name", default=os.environ.get("BOT4_CLUSTER_NAME", "lab"),
                       help="lab cluster name (default: lab)")
        return p

    p = sub.add_parser("build", help="build or reuse the cached binaries")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--images", action="store_true",
                   help="also build the pause and test images (OCI archives) for real nodes")
    p.add_argument("--node", action="store_true",
                   help="also build containerd, ctr and the CNI plugins for a real node")
    p.set_defaults(func=cmd_build)
    p = with_name(sub.add_parser("up", help="start the lab cluster"))
    p.add_argument("--kwok-nodes", type=int, default=3, help="simulated worker nodes (default 3)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds to wait for each component (default 180)")
    p.add_argument("--advertise-address", default=VM_HOST_ADDRESS,
                   help="address the apiserver advertises (the `kubernetes` Service endpoint);"
                        f" default {VM_HOST_ADDRESS}, the host as seen from a lab VM;"
                        " a loopback address disables the endpoint reconciler")
    p.set_defaults(func=cmd_up)
    p = with_name(sub.add_parser("down", help="stop the lab cluster"))
    p.add_argument("--purge", action="store_true", help="also delete its state directory")
    p.add_argument("--grace", type=float, default=15.0,
                   help="seconds between SIGTERM and SIGKILL (default 15)")
    p.set_defaults(func=cmd_down)
    with_name(sub.add_parser("status", help="print the cluster's state as JSON")).set_defaults(
        func=cmd_status)
    with_name(sub.add_parser("kubeconfig", help="print the admin kubeconfig path")).set_defaults(
        func=cmd_kubeconfig)
    p = with_name(sub.add_parser("kubectl", help="run the built kubectl with the admin kubeconfig"))
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_kubectl)
    p = with_name(sub.add_parser("node-credentials",
                                 help="certificates and kubeconfig for a real kubelet node"))
    p.add_argument("node", help="the Node name the kubelet registers as")
    p.add_argument("--server-host", default=VM_HOST_ADDRESS,
                   help=f"apiserver address as seen by the node (default {VM_HOST_ADDRESS})")
    p.add_argument("--ip", action="append", help="node IP for the kubelet serving certificate")
    p.set_defaults(func=cmd_node_credentials)
    p = with_name(sub.add_parser("join-node", help="make the VMs of a lab (labctl) kubelet nodes"))
    p.add_argument("--lab", default=os.environ.get("BOT4_LAB_NAME", "lab"),
                   help="labctl lab whose running VMs join (default: lab)")
    p.add_argument("--node", help="join only this VM of the lab (default: all of them)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds to wait for registration and for Ready (default 600)")
    p.set_defaults(func=cmd_join_node)

    args = parser.parse_args(argv)
    if getattr(args, "args", None) and args.args[0] == "--":
        args.args = args.args[1:]
    if getattr(args, "kwok_nodes", 0) < 0:
        parser.error("--kwok-nodes must be >= 0")
    # A SIGTERM (a CI timeout, a test runner giving up) must still clean up: a
    # failing `up` stops what it started, a build kills its `go build`.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return args.func(args)
    except LabError as err:
        log(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
