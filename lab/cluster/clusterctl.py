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

Only the standard library and PyYAML are used, so the tool runs with the
system python3 as well as the project's virtualenv.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KUBE_MODULE = HERE / "kube"
KWOK_MODULE = HERE / "kwok"
IMAGES_MODULE = HERE / "images"
NODE_MODULE = HERE / "node"

# Binary name -> Go package, built together in one `go build` so that the
# packages they share (client-go, apimachinery, gRPC, ...) compile once.
KUBE_PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
}
KWOK_PACKAGES = {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}
# The runtime side of a real node (the lab VM): containerd, its shim, ctr and
# the CNI plugins, all static.
NODE_PACKAGES = {
    "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
    "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
    "bridge": "github.com/containernetworking/plugins/plugins/main/bridge",
    "host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
    "loopback": "github.com/containernetworking/plugins/plugins/main/loopback",
    "portmap": "github.com/containernetworking/plugins/plugins/meta/portmap",
}

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


class ClusterError(Exception):
    """A failure worth a clear one-line message (plus a log tail) and exit 1."""


def log(msg: str) -> None:
    print(f"clusterctl: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- paths


def cache_dir() -> Path:
    return Path(os.environ.get("BOT4_CACHE_DIR") or Path.home() / ".cache" / "bot4-hft")


def lab_dir() -> Path:
    return Path(os.environ.get("BOT4_LAB_DIR") or REPO / ".lab")


def state_dir(name: str) -> Path:
    return lab_dir() / f"cluster-{name}"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- build


def go_binary() -> str:
    for cand in (os.environ.get("BOT4_GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ClusterError("no Go toolchain: install Go >= 1.26 (or set BOT4_GO)")


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Modules and compiled packages live in the project cache unless the caller
    # points Go elsewhere; -modcacherw keeps that cache removable with rm -rf.
    env.setdefault("GOMODCACHE", str(cache_dir() / "go" / "mod"))
    env.setdefault("GOCACHE", str(cache_dir() / "go" / "build"))
    # The compiler's scratch space too (GBs for Kubernetes): not /tmp, which may be
    # a small tmpfs or cleaned while a long build runs.
    env.setdefault("GOTMPDIR", str(cache_dir() / "go" / "tmp"))
    Path(env["GOTMPDIR"]).mkdir(parents=True, exist_ok=True)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = "-mod=readonly -modcacherw -buildvcs=false"
    env["GOWORK"] = "off"
    return env


def module_version(module_dir: Path, module: str) -> str:
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", text, re.M)
    if not match:
        raise ClusterError(f"{module} is not required in {module_dir / 'go.mod'}")
    return match.group(1)


@dataclass
class BuildSpec:
    """One cached set of binaries built from one Go module."""

    kind: str  # cache subdirectory: "kube", "kwok", "cluster-images"
    module_dir: Path
    version: str
    packages: dict[str, str]
    ldflags: str  # may contain {release_time}: the module's publication time
    release_module: str | None = None

    def flags(self, release_time: str = "{release_time}") -> list[str]:
        return ["-trimpath", "-ldflags", self.ldflags.replace("{release_time}", release_time)]

    def key(self, go_version: str) -> str:
        digest = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            path = self.module_dir / name
            digest.update(path.read_bytes() if path.exists() else b"")
        for src in sorted(self.module_dir.rglob("*.go")):
            digest.update(str(src.relative_to(self.module_dir)).encode())
            digest.update(src.read_bytes())
        digest.update(json.dumps([self.flags(), sorted(self.packages.items()), go_version,
                                  "CGO_ENABLED=0"]).encode())
        return f"{self.version}-{digest.hexdigest()[:12]}"


def kube_spec() -> BuildSpec:
    version = module_version(KUBE_MODULE, "k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    # Stamp what `kubectl version` and /version report. The build date is the
    # release's publication time on the module proxy, so rebuilding the same
    # inputs gives the same binaries. The source is the unmodified release
    # module (go.sum-verified), hence "clean"; the proxy does not tell the commit.
    stamp = {"gitVersion": version, "gitMajor": major, "gitMinor": minor,
             "gitTreeState": "clean", "gitCommit": "", "buildDate": "{release_time}"}
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.{key}={value}" for key, value in stamp.items()]
    etcd_version = module_version(KUBE_MODULE, "go.etcd.io/etcd/server/v3")
    ldflags.append(f"-X go.etcd.io/etcd/api/v3/version.GitSHA=go-module-{etcd_version}")
    return BuildSpec("kube", KUBE_MODULE, version, KUBE_PACKAGES, " ".join(ldflags),
                     release_module="k8s.io/kubernetes")


def kwok_spec() -> BuildSpec:
    version = module_version(KWOK_MODULE, "sigs.k8s.io/kwok")
    ldflags = f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}"
    return BuildSpec("kwok", KWOK_MODULE, version, KWOK_PACKAGES, ldflags)


def node_spec() -> BuildSpec:
    version = module_version(NODE_MODULE, "github.com/containerd/containerd/v2")
    ldflags = f"-s -w -X github.com/containerd/containerd/v2/version.Version={version.lstrip('v')}"
    return BuildSpec("cluster-node", NODE_MODULE, version, NODE_PACKAGES, ldflags)


def run_logged(argv: list[str], logfile: Path, cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    with open(logfile, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"`{' '.join(argv[:4])} ...` failed (exit {proc.returncode});"
                           f" last lines of {logfile}:\n{tail(logfile)}")
    return time.monotonic() - start


def build(spec: BuildSpec, force: bool = False) -> Path:
    """Return the bin dir for spec, building it first unless already cached."""
    go = go_binary()
    env = go_env()
    go_version = subprocess.run([go, "env", "GOVERSION"], env=env, capture_output=True,
                                text=True, check=True).stdout.strip()
    root = cache_dir() / spec.kind
    final = root / spec.key(go_version)
    bindir = final / "bin"
    if not force and (final / "build.json").exists():
        return bindir
    with file_lock(root / ".build.lock"):
        if not force and (final / "build.json").exists():  # built while we waited
            return bindir
        for stale in root.glob(".tmp-*"):  # left by a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
        try:
            logfile = tmp / "build.log"
            pkgs = list(spec.packages.values())
            log(f"building {spec.kind} {spec.version} with {go_version}"
                f" ({', '.join(spec.packages)}); log: {logfile}")
            nice = ["nice", "-n", "19"] if shutil.which("nice") else []
            # Fetch only the modules these packages need, then compile all of them
            # in one invocation.
            t_download = run_logged([go, "list", "-deps", "-f", "{{.ImportPath}}", *pkgs],
                                    logfile, spec.module_dir, env)
            release_time = "1970-01-01T00:00:00Z"
            if spec.release_module:
                info = subprocess.run([go, "list", "-m", "-json", spec.release_module],
                                      cwd=spec.module_dir, env=env, capture_output=True,
                                      text=True, check=True).stdout
                release_time = json.loads(info).get("Time", release_time)
            flags = spec.flags(release_time)
            t_compile = run_logged([*nice, go, "build", *flags, "-o",
                                    str(tmp / "bin") + "/", *pkgs], logfile, spec.module_dir, env)
            for name, pkg in spec.packages.items():
                built = tmp / "bin" / go_output_name(pkg)
                if built.name != name:
                    built.rename(tmp / "bin" / name)
            manifest = {"kind": spec.kind, "version": spec.version, "go": go_version,
                        "packages": spec.packages, "flags": flags, "cgo": False,
                        "download_seconds": round(t_download, 1),
                        "compile_seconds": round(t_compile, 1),
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / "build.json").write_text(json.dumps(manifest, indent=2) + "\n")
            if final.exists():  # --force: replace the old build
                shutil.rmtree(final)
            tmp.rename(final)
            log(f"built {spec.kind} {spec.version} in {t_download:.0f}s (modules)"
                f" + {t_compile:.0f}s (compile): {bindir}")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return bindir


def go_output_name(pkg: str) -> str:
    """The file name `go build -o dir/` gives a main package."""
    parts = pkg.split("/")
    if len(parts) > 1 and re.fullmatch(r"v[2-9][0-9]*", parts[-1]):
        return parts[-2]
    return parts[-1]


def ensure_built(force: bool = False) -> dict[str, Path]:
    bins: dict[str, Path] = {}
    for spec in (kube_spec(), kwok_spec()):
        bindir = build(spec, force=force)
        bins.update({name: bindir / name for name in spec.packages})
    return bins


def cmd_build(args: argparse.Namespace) -> int:
    result: dict = {"bin": {k: str(v) for k, v in ensure_built(force=args.force).items()}}
    if args.images:
        result["images"] = str(build_images(force=args.force))
    if args.node:
        node_bin = build(node_spec(), force=args.force)
        result["node_bin"] = {name: str(node_bin / name) for name in NODE_PACKAGES}
    print(json.dumps(result, indent=2))
    return 0


# --------------------------------------------------------------------------- images


# The lab-only stand-in for the SR-IOV network device plugin (see
# lab/cluster/images/vfio-device-plugin/main.go): production runs the real one.
DEVICE_PLUGIN_IMAGE = "localhost/bot4/vfio-device-plugin:v1"
# Archive name -> (image reference, binary, user). The device plugin runs as
# root: it creates its socket in the kubelet's device-plugins directory.
IMAGE_ARCHIVES = {
    "pause.tar": ("registry.k8s.io/pause:3.10.2", "pause", "65535:65535"),
    "hft-probe.tar": ("localhost/bot4/hft-probe:v1", "hft-probe", "65535:65535"),
    "vfio-device-plugin.tar": (DEVICE_PLUGIN_IMAGE, "vfio-device-plugin", "0:0"),
}


def images_spec() -> BuildSpec:
    return BuildSpec("cluster-images", IMAGES_MODULE, "v1",
                     {"pause": "bot4.hft/lab/cluster/images/pause",
                      "hft-probe": "bot4.hft/lab/cluster/images/hft-probe",
                      "vfio-device-plugin": "bot4.hft/lab/cluster/images/vfio-device-plugin"},
                     "-s -w")


def build_images(force: bool = False) -> Path:
    """Build the pause, test and device-plugin images as OCI archives (no registry needed).

    Each archive is an OCI image layout in a tar, importable into containerd
    with `ctr -n k8s.io images import ARCHIVE`.
    """
    bindir = build(images_spec(), force=force)
    outdir = bindir.parent / "oci"
    if outdir.exists() and not force:
        return outdir
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-oci-", dir=bindir.parent))
    try:
        for archive, (ref, binary, user) in IMAGE_ARCHIVES.items():
            write_oci_archive(tmp / archive, ref, {binary: bindir / binary}, [f"/{binary}"], user=user)
        if outdir.exists():
            shutil.rmtree(outdir)
        tmp.rename(outdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return outdir


def write_oci_archive(archive: Path, ref: str, files: dict[str, Path], entrypoint: list[str],
                      user: str = "65535:65535") -> None:
    import gzip

    def blob(data: bytes, media_type: str) -> tuple[dict, bytes]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return {"mediaType": media_type, "digest": digest, "size": len(data)}, data

    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in files.items():
            info = tarfile.TarInfo(name)
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()
    layer_desc, layer = blob(gzip.compress(layer_tar.getvalue(), mtime=0),
                             "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": entrypoint, "User": user},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    config_desc, config_data = blob(json.dumps(config, sort_keys=True).encode(),
                                    "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc, manifest_data = blob(json.dumps(manifest, sort_keys=True).encode(),
                                        "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": ref,
                                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index, sort_keys=True).encode())
        for desc, data in ((config_desc, config_data), (layer_desc, layer),
                           (manifest_desc, manifest_data)):
            add("blobs/sha256/" + desc["digest"].split(":", 1)[1], data)


# --------------------------------------------------------------------------- PKI


class Pki:
    """The lab's CAs and certificates, made with the openssl CLI."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not shutil.which("openssl"):
            raise ClusterError("openssl not found (apt-get install openssl)")

    def path(self, name: str, ext: str) -> Path:
        return self.dir / f"{name}.{ext}"

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"openssl {args[0]} failed: {proc.stderr.strip()}")

    def key(self, name: str) -> Path:
        key = self.path(name, "key")
        if not key.exists():
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-out", str(key))
            os.chmod(key, 0o600)
        return key

    def ca(self, name: str, common_name: str) -> None:
        cnf = self.path(name, "cnf")
        cnf.write_text(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = " + common_name + "\n"
            "[v3_ca]\nbasicConstraints = critical, CA:TRUE\n"
            "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"
            "subjectKeyIdentifier = hash\n")
        self._openssl("req", "-x509", "-new", "-key", str(self.key(name)), "-sha256",
                      "-days", "3650", "-config", str(cnf), "-extensions", "v3_ca",
                      "-set_serial", str(secrets.randbits(63)), "-out", str(self.path(name, "crt")))

    def cert(self, name: str, ca: str, cn: str, org: str | None = None,
             server: bool = False, client: bool = False,
             dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        usages = (["serverAuth"] if server else []) + (["clientAuth"] if client else [])
        cnf = self.path(name, "cnf")
        dn = (f"O = {org}\n" if org else "") + f"CN = {cn}\n"
        ext = ("basicConstraints = critical, CA:FALSE\n"
               "keyUsage = critical, digitalSignature\n"
               f"extendedKeyUsage = {', '.join(usages)}\n"
               "authorityKeyIdentifier = keyid\n")
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        if sans:
            ext += f"subjectAltName = {', '.join(sans)}\n"
        cnf.write_text(f"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n{dn}[v3]\n{ext}")
        csr = self.path(name, "csr")
        self._openssl("req", "-new", "-key", str(self.key(name)), "-config", str(cnf),
                      "-out", str(csr))
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(self.path(ca, "crt")),
                      "-CAkey", str(self.path(ca, "key")), "-set_serial", str(secrets.randbits(63)),
                      "-days", "365", "-sha256", "-extfile", str(cnf), "-extensions", "v3",
                      "-out", str(self.path(name, "crt")))
        csr.unlink()

    def service_account_keys(self) -> None:
        self.key("sa")
        self._openssl("pkey", "-in", str(self.path("sa", "key")), "-pubout",
                      "-out", str(self.path("sa", "pub")))


def make_pki(pki: Pki, name: str) -> None:
    loopback = ("127.0.0.1",)
    pki.ca("ca", f"bot4-lab-{name}-ca")
    pki.ca("etcd-ca", f"bot4-lab-{name}-etcd-ca")
    pki.ca("front-proxy-ca", f"bot4-lab-{name}-front-proxy-ca")
    pki.cert("etcd-server", "etcd-ca", "etcd-server", server=True, client=True,
             dns=("localhost",), ips=loopback)
    pki.cert("etcd-peer", "etcd-ca", "etcd-peer", server=True, client=True,
             dns=("localhost",), ips=loopback)
    pki.cert("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", client=True)
    pki.cert("apiserver", "ca", "kube-apiserver", server=True,
             dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                  "kubernetes.default.svc.cluster.local", "localhost"),
             ips=("127.0.0.1", VM_HOST_ADDRESS, SERVICE_IP))
    pki.cert("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", client=True)
    pki.cert("front-proxy-client", "front-proxy-ca", "front-proxy-client", client=True)
    pki.cert("admin", "ca", "bot4-lab-admin", org="system:masters", client=True)
    pki.cert("controller-manager", "ca", "system:kube-controller-manager", client=True)
    pki.cert("scheduler", "ca", "system:kube-scheduler", client=True)
    pki.cert("kwok", "ca", "bot4-lab-kwok", org="bot4-lab:kwok", client=True)
    pki.service_account_keys()


def write_kubeconfig(path: Path, cluster: str, server: str, pki: Pki, user: str) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": b64(pki.path("ca", "crt"))}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(pki.path(user, "crt")),
            "client-key-data": b64(pki.path(user, "key"))}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chmod(path, 0o600)


# --------------------------------------------------------------------------- processes


def proc_start_time(pid: int) -> str | None:
    """Start time (clock ticks since boot) of a live, non-zombie process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def pid_alive(pid: int, start_time: str | None = None) -> bool:
    current = proc_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def processes_referencing(path: Path) -> list[int]:
    """PIDs whose command line mentions path: every component of a lab does."""
    needle = (str(path).rstrip("/") + "/").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and proc_start_time(int(entry.name)):
            found.append(int(entry.name))
    return found


def tail(path: Path, lines: int = 25) -> str:
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"  ({path} not found)"
    return "\n".join("  " + line for line in data[-lines:])


class Lab:
    """One lab cluster's state directory and processes."""

    def __init__(self, name: str):
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", name):
            raise ClusterError(f"invalid cluster name {name!r}: use lowercase letters, digits, '-'")
        self.name = name
        self.dir = state_dir(name)
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.run = self.dir / "run"
        self.children: dict[str, subprocess.Popen] = {}

    @property
    def meta_file(self) -> Path:
        return self.dir / "cluster.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_file.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def lock_file(self) -> Path:
        return lab_dir() / f".cluster-{self.name}.lock"

    def lock(self):
        return file_lock(self.lock_file)

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def read_pid(self, component: str) -> tuple[int, str] | None:
        try:
            data = json.loads(self.pidfile(component).read_text())
            return int(data["pid"]), str(data["start_time"])
        except (OSError, ValueError, KeyError):
            return None

    def alive(self, component: str) -> bool:
        entry = self.read_pid(component)
        return entry is not None and pid_alive(*entry)

    def start(self, component: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        logfile = self.logs / f"{component}.log"
        with open(logfile, "ab") as out:
            out.write(f"# {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=self.dir, env=env,
                                    start_new_session=True, close_fds=True)
        self.children[component] = proc
        start_time = None
        for _ in range(100):
            start_time = proc_start_time(proc.pid)
            if start_time is not None or proc.poll() is not None:
                break
            time.sleep(0.01)
        self.pidfile(component).write_text(json.dumps({"pid": proc.pid, "start_time": start_time,
                                                       "argv": argv}) + "\n")

    def check_running(self, component: str) -> None:
        proc = self.children.get(component)
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{component} exited with status {proc.returncode}; last lines of"
                               f" {self.logs / (component + '.log')}:\n"
                               f"{tail(self.logs / (component + '.log'))}")

    def stop(self, component: str, grace: float) -> None:
        entry = self.read_pid(component)
        if entry is not None and pid_alive(*entry):
            terminate([entry[0]], grace, group=True)
        proc = self.children.pop(component, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile(component).unlink()

    def stop_all(self, grace: float = 15.0) -> list[int]:
        """Stop every component; return the PIDs that could not be stopped."""
        for component in reversed(COMPONENTS):
            self.stop(component, grace)
        # Anything else still naming this lab's directory (lost pidfile, a child
        # of a component) belongs to this lab too.
        leftovers = processes_referencing(self.dir)
        if leftovers:
            log(f"stopping leftover processes of {self.name}: {leftovers}")
            terminate(leftovers, grace, group=False)
        return processes_referencing(self.dir)


def terminate(pids: list[int], grace: float, group: bool) -> None:
    """SIGTERM, wait up to grace seconds, then SIGKILL whatever is left."""
    starts = {pid: proc_start_time(pid) for pid in pids}

    def send(sig: int) -> None:
        for pid, start in starts.items():
            if not pid_alive(pid, start):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if group and os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not any(pid_alive(p, s) for p, s in starts.items()):
                return True
            time.sleep(0.1)
        return not any(pid_alive(p, s) for p, s in starts.items())

    send(signal.SIGTERM)
    if not wait(grace):
        send(signal.SIGKILL)
        wait(10)


# --------------------------------------------------------------------------- HTTP


class Api:
    """A tiny HTTPS client for health checks and polling, proxy-free."""

    def __init__(self, base: str, ca: Path | None, cert: Path | None = None,
                 key: Path | None = None):
        self.base = base.rstrip("/")
        if ca is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=str(ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=ctx))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, OSError, ssl.SSLError) as err:
            return 0, str(err).encode()

    def get_json(self, path: str) -> dict | None:
        status, body = self.get(path)
        if status != 200:
            return None
        return json.loads(body)


def wait_for(what: str, check, timeout: float, lab: Lab, components: tuple[str, ...],
             interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for component in components:
            lab.check_running(component)
        ok, detail = check()
        if ok:
            return
        last = detail or last
        time.sleep(interval)
    logs = "\n".join(f"last lines of {lab.logs / (c + '.log')}:\n{tail(lab.logs / (c + '.log'))}"
                     for c in components)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}"
                       f"{': ' + last if last else ''}\n{logs}")


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- fleet


def fleet_nodes(count: int, version: str, fleet_file: Path = HERE / "fleet.yaml") -> list[dict]:
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


# --------------------------------------------------------------------------- up


def kubectl(lab: Lab, bins: dict[str, Path], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([str(bins["kubectl"]), "--kubeconfig", str(lab.admin_kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    bins = ensure_built()
    with lab.lock():
        if any(lab.alive(c) for c in COMPONENTS):
            status = lab_status(lab)
            if status["healthy"]:
                log(f"cluster {lab.name} is already running: {lab.admin_kubeconfig}")
                print(lab.admin_kubeconfig)
                return 0
            raise ClusterError(f"cluster {lab.name} is partly running ({status['components']});"
                               f" run `clusterctl.py down --name {lab.name}` first")
        lab.stop_all(grace=5.0)  # strays of an earlier run that lost its pidfiles
        started = time.monotonic()
        try:
            bring_up(lab, bins, args.kwok_nodes, args.timeout, args.advertise_address)
        except BaseException:
            log(f"up failed; stopping what was started (logs kept in {lab.logs})")
            lab.stop_all(grace=5.0)
            raise
        log(f"cluster {lab.name} is up in {time.monotonic() - started:.1f}s"
            f" ({args.kwok_nodes} kwok nodes Ready)")
    print(lab.admin_kubeconfig)
    return 0


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


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
            "-f", str(HERE / "bootstrap.yaml"))

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

    # kwok only manages the nodes annotated as fake, so a real kubelet (the lab
    # VM) can join the same cluster. HOME points into the lab so a user's
    # ~/.kwok/kwok.yaml is not read.
    kwok_home = lab.dir / "kwok-home"
    kwok_home.mkdir()
    lab.start("kwok", [
        str(bins["kwok"]), f"--kubeconfig={kubeconfigs['kwok']}",
        f"--config={HERE / 'kwok-stages.yaml'}",
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

    def default_sa() -> tuple[bool, str]:
        status, _ = admin_api.get("/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200, "default ServiceAccount not created yet"

    wait_for("the default ServiceAccount", default_sa, timeout, lab,
             ("kube-apiserver", "kube-controller-manager"))


def node_ready(node: dict) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


# --------------------------------------------------------------------------- status/down


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


def cmd_status(args: argparse.Namespace) -> int:
    status = lab_status(Lab(args.name))
    print(json.dumps(status, indent=2))
    return 0 if status["healthy"] else 1


def cmd_down(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.dir.exists():
        log(f"cluster {lab.name} does not exist ({lab.dir})")
        return 0
    started = time.monotonic()
    with lab.lock():
        remaining = lab.stop_all(grace=args.grace)
        if remaining:
            raise ClusterError(f"processes of cluster {lab.name} still running: {remaining}")
        if args.purge:
            shutil.rmtree(lab.dir)
            # Nothing of the cluster is left to guard; a later `up` makes a new one.
            lab.lock_file.unlink(missing_ok=True)
    log(f"cluster {lab.name} stopped in {time.monotonic() - started:.1f}s; no process of it remains")
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


def cmd_node_credentials(args: argparse.Namespace) -> int:
    """Credentials for a real kubelet (the lab VM): a client certificate for
    system:node:NODE signed by the lab CA, a serving certificate, and a
    kubeconfig that reaches the apiserver from a QEMU guest at 10.0.2.2."""
    print(node_credentials(Lab(args.name), args.node, tuple(args.ip or ()), args.server_host))
    return 0


# --------------------------------------------------------------------------- real node


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
    proc = subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "status",
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
    """SSH to a lab VM with the lab's own key and known_hosts (as labctl does)."""

    def __init__(self, status: dict, node: dict):
        self.node = node["name"]
        self.argv = ["ssh", "-i", status["ssh_key"], "-p", str(node["ssh_port"]),
                     "-o", f"UserKnownHostsFile={Path(status['state_dir']) / 'known_hosts'}",
                     "-o", "StrictHostKeyChecking=accept-new",
                     "-o", f"HostKeyAlias={node['name']}", "-o", "IdentitiesOnly=yes",
                     "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes",
                     "-o", "ServerAliveInterval=15", "root@127.0.0.1"]

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
    proc = subprocess.run([str(REPO / "tools" / "fetch-deb.sh"), *RUNC_DEB], capture_output=True,
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
        deadline = time.monotonic() + limit
        last = ""
        while time.monotonic() < deadline:
            ok, detail = check()
            if ok:
                return ok
            last = detail or last
            time.sleep(2)
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


def cmd_join_node(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    if not lab.alive("kube-apiserver"):
        raise ClusterError(f"cluster {lab.name} is not running (clusterctl.py up --name {lab.name})")
    status, vms = vm_nodes(args.lab, args.node)
    joined = [join_node(lab, status, vm, args.timeout) for vm in vms]
    print(json.dumps({"cluster": lab.name, "lab": args.lab, "nodes": joined}, indent=2))
    return 0


# --------------------------------------------------------------------------- main


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
    except ClusterError as err:
        log(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
