"""The pause and test images for the lab's real kubelet node, built locally."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

from bot4lab.cluster.build import go_binary, go_env
from bot4lab.cluster.images import IMAGES_MODULE
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


def test_image_sources_pass_go_vet_and_their_unit_tests():
    """go vet and go test of the images module: the device plugin's config
    parsing, device matching on a fake sysfs tree and Allocate's answer. The
    module and build caches are the lab build's, so this compiles little."""
    go, env = go_binary(), go_env()
    module = IMAGES_MODULE
    vet = subprocess.run(["nice", "-n", "19", go, "vet", "./..."], cwd=module, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert vet.returncode == 0, vet.stdout + vet.stderr
    test = subprocess.run(["nice", "-n", "19", go, "test", "-count=1", "-v", "./..."], cwd=module, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert test.returncode == 0, test.stdout[-6000:] + test.stderr[-3000:]
    passed = {line.split()[2] for line in test.stdout.splitlines() if line.startswith("--- PASS: Test")}
    assert {"TestParseConfigReadsTheRealPluginsFormat", "TestSelectFindsOnlyTheBoundNic",
            "TestAllocateHandsOutTheGroupAndTheAddress", "TestServesTheKubeletsDevicePluginAPI"} <= passed, \
        test.stdout[-3000:]
