# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubelet_reader.py on fake nodes: a kubeadm kubelet's process, checkpoints
and configuration below a root, systemctl and kubelet --version answered by
a stand-in."""

import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.kubelet_reader import (
    read_config,
    read_kubelet,
    read_node_kubelet,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kubelet"
ARGV = ["/usr/bin/kubelet", "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
        "--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml",
        "--container-runtime-endpoint=unix:///run/containerd/containerd.sock", "--hostname-override", "Lab-Node-1"]


def write(root, path, text, mode=None):
    target = Path(root) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text) if isinstance(text, str) else target.write_bytes(text)
    if mode:
        target.chmod(mode)
    return target


class Systemd:
    """systemctl show and kubelet --version of a node, every command recorded."""

    def __init__(self, root, active="active", pid="4242", restarts="0", version="Kubernetes v1.33.1\n"):
        self.root = str(root)
        self.props = {"ActiveState": active, "MainPID": pid, "NRestarts": restarts}
        self.version = version
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        if argv[0] == "systemctl":
            return 0, self.props[argv[3]] + "\n", ""
        if argv[1:] == ["--version"] and argv[0].startswith(self.root):
            return 0, self.version, ""
        raise OSError(2, "No such file or directory")


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    write(root, "/usr/bin/kubelet", "#!/bin/sh\n", 0o755)
    write(root, "/proc/4242/cmdline", b"\0".join(a.encode() for a in ARGV) + b"\0")
    write(root, "/var/lib/kubelet/config.yaml", (FIXTURES / "kubeadm-config.yaml").read_text())
    shutil.copy(FIXTURES / "cpu_manager_state.static", root / "var/lib/kubelet/cpu_manager_state")
    return root


def test_a_running_kubeadm_kubelet(node):
    systemd = Systemd(node)
    facts = read_kubelet(systemd, root=str(node), which=None, hostname="LAB-NODE-1")
    assert facts == {
        "installed": True, "running": True, "binary": "/usr/bin/kubelet", "version": "1.33.1",
        "version_tuple": [1, 33, 1], "active": "active", "restarts": 0, "hostname": "lab-node-1",
        "flags": {"config": "/var/lib/kubelet/config.yaml", "hostname-override": "Lab-Node-1"},
        "cpu_manager_state": {"present": True, "policyName": "static"},
        "memory_manager_state": {"present": False},
    }
    assert ["systemctl", "show", "-p", "MainPID", "--value", "kubelet"] in systemd.calls


def test_a_stopped_kubelet_is_found_by_its_binary(node):
    facts = read_kubelet(Systemd(node, active="inactive", pid="0", restarts="3"), root=str(node), which=None,
                         hostname="n")
    assert (facts["installed"], facts["running"], facts["binary"]) == (True, False, "/usr/bin/kubelet")
    assert (facts["active"], facts["restarts"], facts["flags"]) == ("inactive", 3, {})


def test_no_kubelet_and_no_commands(tmp_path):
    facts = read_kubelet(None, root=str(tmp_path), which=None, hostname="n")
    assert facts["installed"] is False and facts["version"] is None and "binary" not in facts
    assert (facts["active"], facts["restarts"]) == ("", 0)
    state = read_node_kubelet(run=None, root=str(tmp_path), which=None, hostname="n")
    assert state["config"] == {"file": "/var/lib/kubelet/config.yaml", "dir": "", "documents": [], "error": None}
    assert state["strict_cpu_reservation"] is False


def test_a_damaged_checkpoint_is_reported(node):
    write(node, "/var/lib/kubelet/memory_manager_state", "{")
    facts = read_kubelet(Systemd(node), root=str(node), which=None, hostname="n")
    assert facts["memory_manager_state"]["present"] is True
    assert "Expecting" in facts["memory_manager_state"]["error"]


def test_state_kubelet_with_its_configuration_and_drop_ins(node):
    conf_d = "/etc/kubernetes/kubelet.conf.d"
    write(node, conf_d + "/20-b.conf", "cpuManagerPolicy: static\n")
    write(node, conf_d + "/10-a.conf", "kind: KubeletConfiguration\n")
    write(node, conf_d + "/.90-hidden.conf", "cpuManagerPolicy: none\n")
    write(node, conf_d + "/30-c.yaml", "cpuManagerPolicy: none\n")
    (node / "etc/kubernetes/kubelet.conf.d/40-dir.conf").mkdir()
    proc = node / "proc/4242/cmdline"
    proc.write_bytes(proc.read_bytes() + b"--config-dir=" + conf_d.encode() + b"\0")
    state = read_node_kubelet(Systemd(node), root=str(node), which=None, hostname="lab-node-1")
    assert state["node_name"] == "Lab-Node-1"
    assert state["strict_cpu_reservation"] is True
    config = state["config"]
    assert (config["file"], config["dir"], config["error"]) == ("/var/lib/kubelet/config.yaml", conf_d, None)
    assert [d["path"] for d in config["documents"]] == [
        "/var/lib/kubelet/config.yaml", conf_d + "/10-a.conf", conf_d + "/20-b.conf"]
    assert config["documents"][2]["text"] == "cpuManagerPolicy: static\n"
    # the role's own settings win over the flags; none: no drop-in directory
    state = read_node_kubelet(Systemd(node), config_dir="none", strict="false", root=str(node), which=None,
                              hostname="n")
    assert [d["path"] for d in state["config"]["documents"]] == ["/var/lib/kubelet/config.yaml"]
    assert state["strict_cpu_reservation"] is False


def test_an_unreadable_configuration_is_an_error_not_an_exception(node):
    os.unlink(node / "var/lib/kubelet/config.yaml")
    config = read_config("/var/lib/kubelet/config.yaml", root=str(node))
    assert config["documents"] == []
    assert config["error"] == "/var/lib/kubelet/config.yaml: No such file or directory"


def test_a_command_that_cannot_be_started_reads_as_no_output(node):
    systemd = Systemd(node)
    systemd.root = "/elsewhere"  # its kubelet --version raises OSError
    facts = read_kubelet(systemd, root=str(node), which=None, hostname="n")
    assert (facts["installed"], facts["running"], facts["version"]) == (True, True, None)
