"""Starting and stopping a lab cluster of its own, next to the session's one."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from bot4lab.cluster.build import kube_spec
from bot4lab.common import pid_alive, processes_referencing
from conftest import run_clusterctl


def test_second_lab_coexists_and_down_leaves_no_process(lab_cluster, lab_env):
    name = f"life-{uuid.uuid4().hex[:6]}"
    state = Path(lab_env["BOT4_LAB_DIR"]) / f"cluster-{name}"
    try:
        started = time.monotonic()
        up = run_clusterctl("up", "--name", name, "--kwok-nodes", "1", env=lab_env)
        assert up.returncode == 0, up.stderr[-5000:]
        up_seconds = time.monotonic() - started
        status = run_clusterctl("status", "--name", name, env=lab_env)
        assert status.returncode == 0, status.stdout
        info = json.loads(status.stdout)
        assert info["healthy"] and info["ready"]
        assert all(c["running"] for c in info["components"].values())
        assert [n["name"] for n in info["nodes"] if n["kwok"] and n["ready"]] == ["kwok-trading-0"]
        assert info["version"] == kube_spec().version
        # Its own ports: the session's cluster is still running next to it.
        if lab_cluster.name:
            other = json.loads(lab_cluster.clusterctl("status", "--name", lab_cluster.name).stdout)
            assert not set(info["ports"].values()) & set(other["ports"].values())
            assert other["healthy"]
        pids = [c["pid"] for c in info["components"].values()]
        assert processes_referencing(state)
    finally:
        started = time.monotonic()
        down = run_clusterctl("down", "--name", name, env=lab_env)
        down_seconds = time.monotonic() - started
    print(f"\n{name}: up {up_seconds:.1f}s, down {down_seconds:.1f}s")
    assert down.returncode == 0, down.stderr
    assert "no process of it remains" in down.stderr
    assert not processes_referencing(state)
    assert not any(pid_alive(pid) for pid in pids)
    assert not list((state / "run").glob("*.pid"))
    after = run_clusterctl("status", "--name", name, env=lab_env)
    assert after.returncode == 1
    assert not json.loads(after.stdout)["running"]
    # Stopping again is harmless; --purge removes the state.
    assert run_clusterctl("down", "--name", name, "--purge", env=lab_env).returncode == 0
    assert not state.exists()
    assert not (state.parent / f".cluster-{name}.lock").exists(), "--purge leaves nothing behind"


def test_failed_up_cleans_up_what_it_started(built_bins, lab_env):
    """etcd cannot be healthy 10 ms after it starts: `up` must fail, say why and
    stop etcd again."""
    name = f"fail-{uuid.uuid4().hex[:6]}"
    state = Path(lab_env["BOT4_LAB_DIR"]) / f"cluster-{name}"
    proc = run_clusterctl("up", "--name", name, "--timeout", "0.01", env=lab_env)
    assert proc.returncode == 1
    assert "timed out" in proc.stderr and "etcd" in proc.stderr
    assert "stopping what was started" in proc.stderr
    assert not processes_referencing(state)
    assert run_clusterctl("down", "--name", name, "--purge", env=lab_env).returncode == 0
