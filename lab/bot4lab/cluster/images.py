# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pause, test and device-plugin images, built from lab/cluster/images/
and packed as OCI archives (no registry needed)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from .build import BuildSpec, build
from .common import CLUSTER_DIR

IMAGES_MODULE = CLUSTER_DIR / "images"


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
