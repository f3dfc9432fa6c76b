# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on the
host's loopback: bringing a lab cluster up, its status, taking it down."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import time
from pathlib import Path

from ..common import pid_alive
from ..ports import free_ports
from .api import Api, kubectl, node_ready
from .build import ensure_built, kube_spec
from .common import (CLUSTER_DIR, COMPONENTS, FIELD_MANAGER, KWOK_NODE_ANNOTATION, POD_CIDR,
                     SERVICE_CIDR, VM_HOST_ADDRESS, ClusterError, log)
from .kwok import start_kwok
from .pki import Pki, make_pki, write_kubeconfig
from .state import Lab, wait_for


def up(lab: Lab, kwok_nodes: int, timeout: float, advertise: str = VM_HOST_ADDRESS) -> None:
    """Start the cluster unless it is running and healthy already."""
    bins = ensure_built()
    with lab.lock():
        if any(lab.alive(c) for c in COMPONENTS):
            status = lab_status(lab)
            if status["healthy"]:
                log(f"cluster {lab.name} is already running: {lab.admin_kubeconfig}")
                return
            raise ClusterError(f"cluster {lab.name} is partly running ({status['components']});"
                               f" run `clusterctl.py down --name {lab.name}` first")
        lab.stop_all(grace=5.0)  # strays of an earlier run that lost its pidfiles
        started = time.monotonic()
        try:
            bring_up(lab, bins, kwok_nodes, timeout, advertise)
        except BaseException:
            log(f"up failed; stopping what was started (logs kept in {lab.logs})")
            lab.stop_all(grace=5.0)
            raise
        log(f"cluster {lab.name} is up in {time.monotonic() - started:.1f}s"
            f" ({kwok_nodes} kwok nodes Ready)")


def bring_up(lab: Lab, bins: dict[str, Path], kwok_nodes: int, timeout: float,
             advertise: str = VM_HOST_ADDRESS) -> None:
    # A lab is disposable: every `up` starts from a fresh CA and an empty etcd.
    if lab.dir.exists():
        shutil.rmtree(lab.dir)
    lab.dir.mkdir(parents=True)
    os.chmod(lab.dir, 0o700)
    pki = Pki(lab.pki)
    make_pki(pki, lab.name)
    p = {name: pki.path(name, "crt") for name in (
        "ca", "etcd-ca", "front-proxy-ca", "etcd-server", "etcd-peer", "apiserver",
        "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client")}
    k = {name: pki.path(name, "key") for name in p}

    etcd_port, peer_port, api_port, cm_port, sched_port = free_ports(5)
    server = f"https://127.0.0.1:{api_port}"
    cluster = f"bot4-lab-{lab.name}"
    version = kube_spec().version
    kubeconfigs = {}
    for user in ("admin", "controller-manager", "scheduler", "kwok"):
        path = lab.admin_kubeconfig if user == "admin" else lab.dir / f"{user}.kubeconfig"
        write_kubeconfig(path, cluster, server, pki, user)
        kubeconfigs[user] = path
    lab.meta_file.write_text(json.dumps({
        "name": lab.name, "cluster": cluster, "server": server,
        "vm_server": f"https://{VM_HOST_ADDRESS}:{api_port}",
        "ports": {"etcd": etcd_port, "etcd-peer": peer_port, "kube-apiserver": api_port,
                  "kube-controller-manager": cm_port, "kube-scheduler": sched_port},
        "version": version, "kwok_nodes": kwok_nodes,
        "bin": {name: str(path) for name, path in bins.items()},
        "kubeconfig": str(lab.admin_kubeconfig),
        "service_cidr": SERVICE_CIDR, "pod_cidr": POD_CIDR,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")

    # etcd: TLS for clients and peers, client certificates required. The lab
    # is disposable, so fsync is off (much faster next to TCG VMs).
    etcd_url = f"https://127.0.0.1:{etcd_port}"
    peer_url = f"https://127.0.0.1:{peer_port}"
    lab.start("etcd", [
        str(bins["etcd"]), "--name", "lab", "--data-dir", str(lab.dir / "etcd"),
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"lab={peer_url}", "--initial-cluster-state", "new",
        "--cert-file", str(p["etcd-server"]), "--key-file", str(k["etcd-server"]),
        "--trusted-ca-file", str(p["etcd-ca"]), "--client-cert-auth",
        "--peer-cert-file", str(p["etcd-peer"]), "--peer-key-file", str(k["etcd-peer"]),
        "--peer-trusted-ca-file", str(p["etcd-ca"]), "--peer-client-cert-auth",
        "--unsafe-no-fsync", "--snapshot-count", "10000", "--log-level", "warn",
    ])
    etcd_api = Api(etcd_url, p["etcd-ca"], p["apiserver-etcd-client"], k["apiserver-etcd-client"])

    def etcd_healthy() -> tuple[bool, str]:
        status, body = etcd_api.get("/health")
        return status == 200 and b'"true"' in body, body.decode(errors="replace")[:200]

    wait_for("etcd /health", etcd_healthy, timeout, lab, ("etcd",))

    # The apiserver listens on the loopback only. What it advertises is what the
    # `kubernetes` Service's endpoints point at: 10.0.2.2, where the lab VM (and
    # its pods) reach the host's loopback. kube-apiserver 1.37 refuses a
    # loopback advertise address with its endpoint reconciler, so 127.0.0.1 is
    # only possible without one.
    reconciler = (["--endpoint-reconciler-type=none"]
                  if ipaddress.ip_address(advertise).is_loopback else [])
    lab.start("kube-apiserver", [
        str(bins["kube-apiserver"]), f"--advertise-address={advertise}", *reconciler,
        "--bind-address=127.0.0.1", f"--secure-port={api_port}",
        f"--etcd-servers={etcd_url}", f"--etcd-cafile={p['etcd-ca']}",
        f"--etcd-certfile={p['apiserver-etcd-client']}",
        f"--etcd-keyfile={k['apiserver-etcd-client']}",
        f"--tls-cert-file={p['apiserver']}", f"--tls-private-key-file={k['apiserver']}",
        f"--client-ca-file={p['ca']}",
        "--authorization-mode=Node,RBAC", "--anonymous-auth=true",
        "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,"
        "NodeRestriction,PodSecurity,DefaultStorageClass,DefaultTolerationSeconds,Priority,"
        "ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
        "--allow-privileged=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.path('sa', 'pub')}",
        f"--service-account-signing-key-file={pki.path('sa', 'key')}",
        f"--kubelet-client-certificate={p['apiserver-kubelet-client']}",
        f"--kubelet-client-key={k['apiserver-kubelet-client']}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--requestheader-client-ca-file={p['front-proxy-ca']}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={p['front-proxy-client']}",
        f"--proxy-client-key-file={k['front-proxy-client']}",
        "--enable-bootstrap-token-auth=true", "--profiling=false", "--event-ttl=1h",
    ])
    admin_api = Api(server, p["ca"], pki.path("admin", "crt"), pki.path("admin", "key"))

    def api_ready() -> tuple[bool, str]:
        status, body = admin_api.get("/readyz")
        return status == 200, body.decode(errors="replace")[-300:]

    wait_for("kube-apiserver /readyz", api_ready, timeout, lab, ("etcd", "kube-apiserver"))
    kubectl(lab, bins, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}",
            "-f", str(CLUSTER_DIR / "bootstrap.yaml"))

    common = ["--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false"]
    cm_kubeconfig = str(kubeconfigs["controller-manager"])
    lab.start("kube-controller-manager", [
        str(bins["kube-controller-manager"]), *common, f"--secure-port={cm_port}",
        f"--kubeconfig={cm_kubeconfig}", f"--authentication-kubeconfig={cm_kubeconfig}",
        f"--authorization-kubeconfig={cm_kubeconfig}",
        f"--cluster-name={cluster}", f"--root-ca-file={p['ca']}",
        f"--cluster-signing-cert-file={p['ca']}", f"--cluster-signing-key-file={k['ca']}",
        f"--service-account-private-key-file={pki.path('sa', 'key')}",
        "--use-service-account-credentials=true",
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--allocate-node-cidrs=true", f"--cluster-cidr={POD_CIDR}", "--node-cidr-mask-size=24",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--node-monitor-grace-period=50s",
    ])
    sched_kubeconfig = str(kubeconfigs["scheduler"])
    lab.start("kube-scheduler", [
        str(bins["kube-scheduler"]), *common, f"--secure-port={sched_port}",
        f"--kubeconfig={sched_kubeconfig}", f"--authentication-kubeconfig={sched_kubeconfig}",
        f"--authorization-kubeconfig={sched_kubeconfig}",
    ])
    for component, port in (("kube-controller-manager", cm_port), ("kube-scheduler", sched_port)):
        health = Api(f"https://127.0.0.1:{port}", None)

        def healthy(health: Api = health) -> tuple[bool, str]:
            status, body = health.get("/healthz")
            return status == 200, body.decode(errors="replace")[-200:]

        wait_for(f"{component} /healthz", healthy, timeout, lab, (component,))

    start_kwok(lab, bins, kubeconfigs["kwok"], kwok_nodes, version, admin_api, timeout)

    def default_sa() -> tuple[bool, str]:
        status, _ = admin_api.get("/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200, "default ServiceAccount not created yet"

    wait_for("the default ServiceAccount", default_sa, timeout, lab,
             ("kube-apiserver", "kube-controller-manager"))


def lab_status(lab: Lab) -> dict:
    meta = lab.meta()
    components = {}
    for component in COMPONENTS:
        entry = lab.read_pid(component)
        components[component] = {"pid": entry[0] if entry else None,
                                 "running": bool(entry and pid_alive(*entry))}
    status = {"name": lab.name, "state_dir": str(lab.dir), "components": components,
              "running": any(c["running"] for c in components.values()),
              "kubeconfig": str(lab.admin_kubeconfig) if meta else None,
              "server": meta.get("server"), "vm_server": meta.get("vm_server"),
              "ports": meta.get("ports"), "bin": meta.get("bin"),
              "ready": False, "nodes": [], "version": None}
    if components["kube-apiserver"]["running"] and meta:
        pki = lab.pki
        api = Api(meta["server"], pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        code, _ = api.get("/readyz")
        status["ready"] = code == 200
        status["version"] = (api.get_json("/version") or {}).get("gitVersion")
        nodes = api.get_json("/api/v1/nodes") or {"items": []}
        status["nodes"] = [{"name": n["metadata"]["name"], "ready": node_ready(n),
                            "kwok": n["metadata"].get("annotations", {}).get(KWOK_NODE_ANNOTATION)
                            == "fake"} for n in nodes["items"]]
    status["healthy"] = (status["ready"] and all(c["running"] for c in components.values())
                         and all(n["ready"] for n in status["nodes"] if n["kwok"]))
    return status


def down(lab: Lab, grace: float, purge: bool = False) -> None:
    """Stop every process of the cluster (with purge, delete its state as well)."""
    if not lab.dir.exists():
        log(f"cluster {lab.name} does not exist ({lab.dir})")
        return
    started = time.monotonic()
    with lab.lock():
        remaining = lab.stop_all(grace=grace)
        if remaining:
            raise ClusterError(f"processes of cluster {lab.name} still running: {remaining}")
        if purge:
            shutil.rmtree(lab.dir)
            # Nothing of the cluster is left to guard; a later `up` makes a new one.
            lab.lock_file.unlink(missing_ok=True)
    log(f"cluster {lab.name} stopped in {time.monotonic() - started:.1f}s; no process of it remains")
