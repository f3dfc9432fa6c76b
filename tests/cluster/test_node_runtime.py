"""The runtime side of a real node: the containerd built from Go modules imports
the locally built pause and test images (as the lab VM will)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from conftest import REPO, run_clusterctl
from test_build import has_interpreter


def test_containerd_imports_the_local_images():
    proc = run_clusterctl("build", "--images", "--node", timeout=None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = json.loads(proc.stdout)
    node_bin = {k: Path(v) for k, v in built["node_bin"].items()}
    assert not any(has_interpreter(p) for p in node_bin.values())
    version = subprocess.run([str(node_bin["containerd"]), "--version"], capture_output=True,
                             text=True, check=True).stdout
    assert " 2.4." in version

    work = REPO / ".lab" / f"containerd-test-{uuid.uuid4().hex[:6]}"
    sock = work / "containerd.sock"
    work.mkdir(parents=True)
    (work / "config.toml").write_text(
        f'version = 3\nroot = "{work}/root"\nstate = "{work}/state"\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
        f'[debug]\n  address = "{work}/debug.sock"\n[metrics]\n  address = ""\n')
    with open(work / "containerd.log", "wb") as log:
        daemon = subprocess.Popen([str(node_bin["containerd"]), "--config", str(work / "config.toml")],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ctr = [str(node_bin["ctr"]), "--address", str(sock), "-n", "k8s.io"]
        deadline = time.monotonic() + 60
        while subprocess.run([*ctr, "version"], capture_output=True, check=False).returncode != 0:
            assert daemon.poll() is None, (work / "containerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "containerd did not come up"
            time.sleep(0.5)
        images = Path(built["images"])
        for archive in ("pause.tar", "hft-probe.tar"):
            subprocess.run([*ctr, "images", "import", str(images / archive)], check=True,
                           capture_output=True)
        listing = subprocess.run([*ctr, "images", "check"], capture_output=True, text=True,
                                 check=True).stdout
        for ref in ("registry.k8s.io/pause:3.10.2", "localhost/bot4/hft-probe:v1"):
            line = next(row for row in listing.splitlines() if row.startswith(ref + " "))
            assert "complete" in line and line.rstrip().endswith("true"), line  # unpacked
        # The CRI plugin recognises the pause image as the (pinned) sandbox image.
        labels = subprocess.run([*ctr, "images", "ls"], capture_output=True, text=True,
                                check=True).stdout
        assert any(r.startswith("registry.k8s.io/pause:3.10.2 ") and "pinned" in r
                   for r in labels.splitlines())
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)
