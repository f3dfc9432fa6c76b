# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab VM (lab/labctl.py) joined to a lab cluster as a real kubelet node.

containerd, runc, the CNI plugins and the kubelet are copied in over SSH, with
the node's own credentials and a kubeadm-style layout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

from ..common import REPO_ROOT, wait_until
from ..lab import Lab as VmLab
from .api import Api, kubectl
from .build import build, node_spec
from .common import VM_HOST_ADDRESS, ClusterError, log
from .images import IMAGE_ARCHIVES, build_images
from .pki import Pki, write_kubeconfig
from .state import Lab


def node_credentials(lab: Lab, node: str, ips: tuple[str, ...] = (),
                     server_host: str = VM_HOST_ADDRESS) -> Path:
    """Write cluster-NAME/nodes/NODE/: kubeconfig with a system:node:NODE client
    certificate, the CA and a serving certificate; return that directory."""
    meta = lab.meta()
    if not meta or not lab.alive("kube-apiserver"):
        raise ClusterError(f"cluster {lab.name} is not running")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?", node):
        raise ClusterError(f"invalid node name {node!r}")
    outdir = lab.dir / "nodes" / node
    outdir.mkdir(parents=True, exist_ok=True)
    os.chmod(outdir, 0o700)
    pki = Pki(lab.pki)
    pki.cert(f"kubelet-{node}", "ca", f"system:node:{node}", org="system:nodes", client=True)
    pki.cert(f"kubelet-{node}-serving", "ca", f"system:node:{node}", server=True,
             dns=(node, "localhost"), ips=tuple(ips) + ("127.0.0.1",))
    server = f"https://{server_host}:{meta['ports']['kube-apiserver']}"
    write_kubeconfig(outdir / "kubelet.kubeconfig", meta["cluster"], server, pki, f"kubelet-{node}")
    for src, dst in ((pki.path("ca", "crt"), "ca.crt"),
                     (pki.path(f"kubelet-{node}-serving", "crt"), "kubelet.crt"),
                     (pki.path(f"kubelet-{node}-serving", "key"), "kubelet.key")):
        shutil.copyfile(src, outdir / dst)
        os.chmod(outdir / dst, 0o600)
    return outdir


# Where things go on a joined node: the kubeadm layout, so that tools (and the
# collection's kubelet role) that know a kubeadm node find their way around.
NODE_PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
NODE_KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
NODE_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
NODE_CA = "/etc/kubernetes/pki/ca.crt"
NODE_CNI_CONFLIST = "/etc/cni/net.d/10-bot4-lab.conflist"
NODE_STAGE = "/var/lib/bot4-lab/node"  # archives and packages copied in by join-node
# bookworm's runc (runc needs cgo and libseccomp; trixie's wants glibc 2.38).
RUNC_DEB = ("bookworm", "runc", "1.1.5+ds1-1+deb12u1")
# The VM registers as a dedicated trading node: the fleet's taint keeps
# ordinary pods off it and its node group is known from the start. The
# `hft.bot4.io/tuned=true` label is not set here: the VM is not tuned when it
# joins, and the engine selects on that label.
NODE_LABELS = {"hft.bot4.io/node-group": "trading", "hft.bot4.io/lab-vm": "true"}
NODE_TAINTS = [{"key": "hft.bot4.io/dedicated", "value": "trading", "effect": "NoSchedule"}]

CONTAINERD_UNIT = """\
# bot4 lab: containerd built from Go modules (lab/cluster/node), upstream's unit.
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""

KUBELET_UNIT = """\
# bot4 lab: kubelet built from k8s.io/kubernetes (lab/cluster/kube).
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

# The drop-in kubeadm installs, with its flag files.
KUBELET_DROPIN = f"""\
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig={NODE_KUBECONFIG}"
Environment="KUBELET_CONFIG_ARGS=--config={NODE_KUBELET_CONFIG}"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""

CONTAINERD_CONFIG = f"""\
# bot4 lab: containerd for the kubelet (CRI), systemd cgroups, local images only.
version = 3

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{NODE_PAUSE_IMAGE}'

[plugins.'io.containerd.cri.v1.runtime']
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = true
        BinaryName = '/usr/sbin/runc'
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/opt/cni/bin']
    conf_dir = '/etc/cni/net.d'
"""


def kubelet_config(ca_file: str = NODE_CA) -> dict:
    """/var/lib/kubelet/config.yaml as kubeadm writes it, plus the lab's choices.

    The collection's kubelet role merges its CPU/memory/topology manager
    settings into this file; nothing here sets them.
    """
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "0s"},
            "x509": {"clientCAFile": ca_file},
        },
        "authorization": {"mode": "Webhook",
                          "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"}},
        "cgroupDriver": "systemd",
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        # No cluster DNS runs in the lab; pods use the node's resolv.conf.
        "clusterDomain": "cluster.local",
        "staticPodPath": "/etc/kubernetes/manifests",
        "tlsCertFile": "/var/lib/kubelet/pki/kubelet.crt",
        "tlsPrivateKeyFile": "/var/lib/kubelet/pki/kubelet.key",
        "rotateCertificates": False,
        "registerWithTaints": NODE_TAINTS,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        # The images are imported, never pulled; keep them (and the pinned
        # pause image) from image GC on a small VM disk.
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "5%",
                         "imagefs.available": "5%"},
        "failSwapOn": True,
        "logging": {"format": "text"},
    }


def kubelet_flags(node: str, node_ip: str) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(NODE_LABELS.items()))
    return (f'KUBELET_KUBEADM_ARGS="--hostname-override={node} --node-ip={node_ip}'
            f' --node-labels={labels}"\n')


def cni_conflist(pod_cidr: str) -> dict:
    """A bridge network over the node's podCIDR (what a CNI agent would write)."""
    return {
        "cniVersion": "1.0.0", "name": "bot4-lab",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def vm_nodes(lab_name: str, only: str | None = None) -> tuple[dict, list[dict]]:
    """labctl's status of a lab and the running nodes to join."""
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "lab" / "labctl.py"), "status",
                           "--name", lab_name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"labctl status --name {lab_name} failed: {proc.stderr.strip()}")
    status = json.loads(proc.stdout)
    if not status.get("exists"):
        raise ClusterError(f"lab {lab_name} does not exist (lab/labctl.py up --name {lab_name})")
    nodes = [n for n in status["nodes"] if only in (None, n["name"])]
    if not nodes:
        raise ClusterError(f"lab {lab_name} has no node {only!r}")
    stopped = [n["name"] for n in nodes if not n["running"]]
    if stopped:
        raise ClusterError(f"lab {lab_name}: {', '.join(stopped)} not running"
                           f" (lab/labctl.py up --name {lab_name})")
    return status, nodes


class VmShell:
    """SSH to a lab VM with the lab's own key and known_hosts (labctl's ssh_argv)."""

    def __init__(self, status: dict, node: dict):
        self.node = node["name"]
        vm_lab = VmLab(status["name"], Path(status["state_dir"]).parent)
        self.argv = vm_lab.ssh_argv(node, options=("ServerAliveInterval=15",))

    def run(self, script: str, timeout: float = 600, stdin: bytes | None = None,
            check: bool = True) -> str:
        proc = subprocess.run([*self.argv, "bash -euo pipefail -s"],
                              input=(stdin if stdin is not None else script.encode()),
                              capture_output=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"{self.node}: remote step failed (exit {proc.returncode}):"
                               f" {script.strip().splitlines()[0][:120]}\n"
                               f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return proc.stdout.decode(errors="replace")

    def put_tree(self, files: dict[str, tuple[bytes | Path, int]], timeout: float = 900) -> None:
        """Stream files (guest path -> content or host file, mode) as a tar into /."""
        proc = subprocess.Popen([*self.argv, "tar -x --no-same-owner -C / -f -"],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                dirs: set[str] = set()
                for path, (content, mode) in sorted(files.items()):
                    parts = path.strip("/").split("/")
                    for i in range(1, len(parts)):
                        d = "/".join(parts[:i])
                        if d not in dirs:
                            dirs.add(d)
                            info = tarfile.TarInfo(d)
                            info.type, info.mode = tarfile.DIRTYPE, 0o755
                            tar.addfile(info)
                    info = tarfile.TarInfo(path.strip("/"))
                    info.mode, info.mtime = mode, int(time.time())
                    if isinstance(content, Path):
                        info.size = content.stat().st_size
                        with open(content, "rb") as fh:
                            tar.addfile(info, fh)
                    else:
                        info.size = len(content)
                        tar.addfile(info, io.BytesIO(content))
            proc.stdin.close()
            err = proc.stderr.read()
            code = proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            raise ClusterError(f"{self.node}: copying files failed (exit {code}):"
                               f" {err.decode(errors='replace')[-1000:]}")


def fetch_runc() -> Path:
    """bookworm's runc .deb, fetched on the host (the VM has no registry)."""
    proc = subprocess.run([str(REPO_ROOT / "tools" / "fetch-deb.sh"), *RUNC_DEB], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"fetching {RUNC_DEB[1]} {RUNC_DEB[2]} failed: {proc.stderr.strip()}")
    debs = list(Path(proc.stdout.strip()).parent.glob("*.deb"))
    if len(debs) != 1:
        raise ClusterError(f"no runc .deb next to {proc.stdout.strip()}")
    return debs[0]


def node_payload(node: str, node_ip: str, creds: Path, bins: dict[str, Path],
                 node_bin: Path, images: Path, runc_deb: Path) -> dict[str, tuple[bytes | Path, int]]:
    """Every file join-node puts on the VM: guest path -> (content or host file, mode)."""
    files: dict[str, tuple[bytes | Path, int]] = {
        "/usr/local/bin/kubelet": (bins["kubelet"], 0o755),
        NODE_KUBECONFIG: ((creds / "kubelet.kubeconfig").read_bytes(), 0o600),
        NODE_CA: ((creds / "ca.crt").read_bytes(), 0o644),
        "/var/lib/kubelet/pki/kubelet.crt": ((creds / "kubelet.crt").read_bytes(), 0o644),
        "/var/lib/kubelet/pki/kubelet.key": ((creds / "kubelet.key").read_bytes(), 0o600),
        NODE_KUBELET_CONFIG: (yaml.safe_dump(kubelet_config(), sort_keys=False).encode(), 0o644),
        "/var/lib/kubelet/kubeadm-flags.env": (kubelet_flags(node, node_ip).encode(), 0o644),
        "/etc/systemd/system/kubelet.service": (KUBELET_UNIT.encode(), 0o644),
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": (KUBELET_DROPIN.encode(), 0o644),
        "/etc/systemd/system/containerd.service": (CONTAINERD_UNIT.encode(), 0o644),
        "/etc/containerd/config.toml": (CONTAINERD_CONFIG.encode(), 0o644),
        "/etc/kubernetes/manifests/.keep": (b"", 0o644),
        f"{NODE_STAGE}/{runc_deb.name}": (runc_deb, 0o644),
    }
    for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
        files[f"/usr/local/bin/{name}"] = (node_bin / name, 0o755)
    for name in ("bridge", "host-local", "loopback", "portmap"):
        files[f"/opt/cni/bin/{name}"] = (node_bin / name, 0o755)
    for archive in IMAGE_ARCHIVES:
        files[f"{NODE_STAGE}/images/{archive}"] = (images / archive, 0o644)
    return files


def payload_digest(files: dict[str, tuple[bytes | Path, int]]) -> str:
    """sha256 over the host files of a payload (guest path, mode, content)."""
    digest = hashlib.sha256()
    for path, (content, mode) in sorted(files.items()):
        if isinstance(content, Path):
            digest.update(f"{path}\0{mode:o}\0".encode())
            with open(content, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def join_node(lab: Lab, status: dict, vm: dict, timeout: float) -> dict:
    """Install containerd, runc, CNI plugins and the kubelet into a running lab VM
    over SSH, register it with its own credentials and wait until it is Ready."""
    meta = lab.meta()
    bins = {name: Path(path) for name, path in meta["bin"].items()}
    node_bin = build(node_spec())
    images = build_images()
    runc_deb = fetch_runc()
    node = vm["name"]
    shell = VmShell(status, vm)
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    # Stop what an earlier join started (a rejoin after the cluster was
    # recreated gets fresh credentials) and drop the old pod network config: it
    # is rewritten from the podCIDR this cluster allocates.
    node_ip = shell.run(f"""
        systemctl stop kubelet 2>/dev/null || true
        rm -f {NODE_CNI_CONFLIST}
        ip -4 route get {VM_HOST_ADDRESS} | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p'
        """, timeout=300).strip()
    if not re.fullmatch(r"[0-9.]+", node_ip):
        raise ClusterError(f"{node}: no address towards {VM_HOST_ADDRESS}: {node_ip!r}")
    creds = node_credentials(lab, node, (node_ip,))
    api = Api(meta["server"], lab.pki / "ca.crt", lab.pki / "admin.crt", lab.pki / "admin.key")
    # A Node object of the same name from an earlier join would keep its old
    # podCIDR and status: start from a fresh registration.
    kubectl(lab, bins, "delete", "node", node, "--ignore-not-found", "--wait=true")
    timings["prepare"] = time.monotonic() - t0

    # The binaries and archives (about 190 MB) are copied only when they differ
    # from what an earlier join installed; configuration and credentials always.
    t = time.monotonic()
    files = node_payload(node, node_ip, creds, bins, node_bin, images, runc_deb)
    digest = payload_digest(files)
    installed = shell.run(f"cat {NODE_STAGE}/payload.sha256 2>/dev/null || true").strip()
    if installed == digest:
        files = {k: v for k, v in files.items() if not isinstance(v[0], Path)}
    shell.put_tree(files)
    timings["copy"] = time.monotonic() - t

    t = time.monotonic()
    shell.run(f"""
        dpkg -i {NODE_STAGE}/{runc_deb.name} >/dev/null
        modprobe overlay
        modprobe br_netfilter 2>/dev/null || true
        systemctl daemon-reload
        systemctl enable containerd kubelet 2>/dev/null
        systemctl restart containerd
        for i in $(seq 120); do
          ctr -n k8s.io version >/dev/null 2>&1 && break
          sleep 1
        done
        ctr -n k8s.io version >/dev/null
        for archive in {NODE_STAGE}/images/*.tar; do
          ctr -n k8s.io images import --local "$archive" >/dev/null
        done
        systemctl restart kubelet
        echo {digest} > {NODE_STAGE}/payload.sha256
        """, timeout=900)
    timings["runtime"] = time.monotonic() - t

    def wait(what: str, check, limit: float) -> dict:
        last = ""

        def done() -> dict | bool:
            nonlocal last
            ok, detail = check()
            last = detail or last
            return ok

        ok = wait_until(done, limit, 2)
        if ok:
            return ok
        journal = shell.run("journalctl -u kubelet -u containerd --no-pager -n 40 -o cat",
                            check=False, timeout=120)
        raise ClusterError(f"{node}: timed out after {limit:.0f}s waiting for {what}: {last}\n"
                           f"kubelet/containerd journal:\n{journal}")

    def registered() -> tuple[dict | bool, str]:
        obj = api.get_json(f"/api/v1/nodes/{node}")
        if obj and obj.get("spec", {}).get("podCIDR"):
            return obj, ""
        return False, "not registered yet" if not obj else "no podCIDR yet"

    t = time.monotonic()
    obj = wait("the Node to register and get a podCIDR", registered, timeout)
    timings["register"] = time.monotonic() - t
    pod_cidr = obj["spec"]["podCIDR"]
    conflist = json.dumps(cni_conflist(pod_cidr), indent=2) + "\n"
    shell.run(f"mkdir -p /etc/cni/net.d\ncat > {NODE_CNI_CONFLIST} <<'EOF'\n{conflist}EOF\n",
              timeout=120)

    def ready() -> tuple[bool, str]:
        obj = api.get_json(f"/api/v1/nodes/{node}") or {}
        conds = {c["type"]: c for c in obj.get("status", {}).get("conditions") or []}
        ready = conds.get("Ready", {})
        return ready.get("status") == "True", ready.get("message", "no Ready condition")

    t = time.monotonic()
    wait("the Node to be Ready", ready, timeout)
    timings["ready"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0
    result = {"node": node, "node_ip": node_ip, "pod_cidr": pod_cidr,
              "seconds": {k: round(v, 1) for k, v in timings.items()}}
    log(f"{node} joined cluster {lab.name} and is Ready in {timings['total']:.0f}s"
        f" (copy {timings['copy']:.0f}s, runtime {timings['runtime']:.0f}s)")
    return result
