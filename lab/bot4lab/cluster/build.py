# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes, etcd, kwok and the node runtime built from the Go module proxy.

Each BuildSpec is one Go module under lab/cluster/ whose packages are compiled
by one `go build`; the binaries are cached under
${BOT4_CACHE_DIR}/<kind>/<version>-<hash>/bin/, the hash covering the module's
go.mod, go.sum and Go files, the build flags and the Go version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..common import cache_dir, file_lock, tail
from .common import CLUSTER_DIR, ClusterError, log

KUBE_MODULE = CLUSTER_DIR / "kube"
KWOK_MODULE = CLUSTER_DIR / "kwok"
NODE_MODULE = CLUSTER_DIR / "node"

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
                           f" last lines of {logfile}:\n{tail(logfile, 25, indent='  ')}")
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
