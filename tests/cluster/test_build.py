"""The cached build: reused when nothing changed, static, version-stamped."""

from __future__ import annotations

import json
import struct
import subprocess
import time
from pathlib import Path

from bot4lab.cluster.build import KUBE_MODULE, kube_spec, module_version
from conftest import run_clusterctl


def has_interpreter(path: Path) -> bool:
    """True when the ELF file asks for a dynamic loader (PT_INTERP)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2, f"{path} is not a 64-bit ELF"
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


def test_second_build_is_a_cache_hit(built_bins):
    started = time.monotonic()
    proc = run_clusterctl("build")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert {k: Path(v) for k, v in json.loads(proc.stdout)["bin"].items()} == built_bins
    assert "building" not in proc.stderr
    assert elapsed < 15, f"a cached build took {elapsed:.1f}s"


def test_binaries_are_static_and_stamped(built_bins):
    version = kube_spec().version
    assert set(built_bins) == {"etcd", "kube-apiserver", "kube-controller-manager",
                               "kube-scheduler", "kubelet", "kubectl", "kwok"}
    for name, path in built_bins.items():
        assert not has_interpreter(path), f"{name} is dynamically linked"
    manifest = json.loads((built_bins["kubelet"].parent.parent / "build.json").read_text())
    assert manifest["version"] == version and manifest["cgo"] is False
    for name in ("kube-apiserver", "kubelet", "kube-scheduler", "kube-controller-manager"):
        out = subprocess.run([str(built_bins[name]), "--version"], capture_output=True,
                             text=True, check=True).stdout
        assert out.strip() == f"Kubernetes {version}", (name, out)
    etcd = subprocess.run([str(built_bins["etcd"]), "--version"], capture_output=True,
                          text=True, check=True).stdout
    etcd_version = module_version(KUBE_MODULE, "go.etcd.io/etcd/server/v3")
    assert f"etcd Version: {etcd_version.lstrip('v')}" in etcd
