"""The pause and test images for the lab's real kubelet node, built locally."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

from conftest import run_clusterctl
from test_clusterctl_unit import check_oci_archive


def test_images_build_as_oci_archives(tmp_path):
    proc = run_clusterctl("build", "--images")
    assert proc.returncode == 0, proc.stderr[-3000:]
    oci = Path(json.loads(proc.stdout)["images"])
    check_oci_archive(oci / "pause.tar", "registry.k8s.io/pause:3.10.2", {"pause"})
    check_oci_archive(oci / "hft-probe.tar", "localhost/bot4/hft-probe:v1", {"hft-probe"})
    check_oci_archive(oci / "vfio-device-plugin.tar", "localhost/bot4/vfio-device-plugin:v1",
                      {"vfio-device-plugin"})
    # The probe is static and runs here too: it reports the CPUs it may use.
    probe = oci.parent / "bin" / "hft-probe"
    out = subprocess.run([str(probe), "-listen", ""], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["cpus_allowed"] and report["pid"] > 0
    with tarfile.open(oci / "pause.tar") as tar:
        assert "index.json" in tar.getnames()
