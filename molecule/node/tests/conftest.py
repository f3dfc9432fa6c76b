"""Shared fixtures of the node suite (testinfra from inside a tuned lab VM).

The suite runs against one tuned lab VM in two phases (BOT4_NODE_PHASE):
`converged` (the node group's profile, one tuning reboot so far) and `changed`
(after the profile change of ../vars/profile_change.yml, one more reboot).
`make test` runs it on the lab VM the cluster tests joined and tuned
(tests/cluster/conftest.py, run_node_suite); `molecule test -s node` runs it on
a standalone lab VM. Both hand it, through the environment: the plan directory
(BOT4_PLAN_DIR), the inventory (BOT4_NODE_INVENTORY, or molecule's
MOLECULE_INVENTORY_FILE), a scratch directory (BOT4_NODE_SCRATCH, or
MOLECULE_EPHEMERAL_DIRECTORY) and the lab's name (BOT4_LAB_NAME).
"""
import json
import os
import subprocess
import sys

import pytest

LAB_NAME = os.environ.get("BOT4_LAB_NAME", "molecule-node")
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PLAN_DIR = os.environ.get("BOT4_PLAN_DIR", "")
PHASE = os.environ.get("BOT4_NODE_PHASE", "converged")
INVENTORY = os.environ.get("BOT4_NODE_INVENTORY") or os.environ.get("MOLECULE_INVENTORY_FILE", "")
SCRATCH = os.environ.get("BOT4_NODE_SCRATCH") or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")


# testinfra shares one SSH connection per host (ControlPath from ansible.cfg)
# only when the control directory exists already: measured under TCG, 1.4 s
# per command with a new handshake each, 0.4 s over the shared connection.
# The connections this session opened are closed when it ends (no ssh master
# is left behind).
CONTROL_DIR = os.path.expanduser("~/.ansible/cp")
os.makedirs(CONTROL_DIR, mode=0o700, exist_ok=True)
_CONTROL_BEFORE = set(os.listdir(CONTROL_DIR))


def pytest_sessionfinish(session, exitstatus):
    for name in sorted(set(os.listdir(CONTROL_DIR)) - _CONTROL_BEFORE):
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(CONTROL_DIR, name), "-O", "exit", "node"],
                       capture_output=True, timeout=30, check=False)


def lab_status():
    """The lab tool's view of the scenario's VMs (ports, console logs, boots)."""
    out = subprocess.run(
        [sys.executable, os.path.join(PROJECT, "lab", "labctl.py"), "status", "--name", LAB_NAME],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def expand(cpulist):
    """'0-1,4' -> {0, 1, 4}; '' -> set()."""
    cpus = set()
    for part in filter(None, cpulist.strip().split(",")):
        first, _unused, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


@pytest.fixture(scope="module")
def plan(host):
    """The plan the collection computed for this node (verify.yml's preflight)."""
    assert PLAN_DIR, "BOT4_PLAN_DIR is not set: run the suite through the scenario's verify.yml or tests/cluster"
    path = os.path.join(PLAN_DIR, host.backend.get_hostname() + ".json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["plan"]


@pytest.fixture(scope="module")
def phase():
    return PHASE
