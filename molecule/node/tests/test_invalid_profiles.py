"""Invalid profiles are rejected by the main job before anything changes.

Each profile of ../vars/invalid_profiles.yml is merged over the node group's profile
and handed to playbooks/production.yml against the lab node. Every run must
fail in preflight with that profile's own field and reason, run no task of the
tuning play, and change nothing: the bootloader configuration, the sysctl
files and the collection's own files on the node are byte-identical before
and after all the runs.
"""
import copy
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import INVENTORY, SCRATCH
from profiles import merge

pytestmark = pytest.mark.before_change

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.dirname(os.path.dirname(SCENARIO))
with open(os.path.join(SCENARIO, "vars", "invalid_profiles.yml"), encoding="utf-8") as _handle:
    CASES = yaml.safe_load(_handle)["node_scenario_invalid_profiles"]
with open(os.path.join(PROJECT, "inventories", "lab", "group_vars", "hft_nodes.yml"), encoding="utf-8") as _handle:
    GROUP_PROFILE = yaml.safe_load(_handle)["hft_profile"]

# What a tuning run writes: bootloader configuration, sysctls, systemd and the
# collection's own configuration.
WATCHED = ("/etc/default/grub", "/etc/default/grub.d", "/boot/grub/grub.cfg", "/etc/sysctl.conf",
           "/etc/sysctl.d", "/etc/bot4-hft", "/etc/systemd/system.conf.d", "/etc/default/irqbalance",
           "/etc/systemd/system", "/etc/modules-load.d", "/etc/modprobe.d")


def snapshot(host):
    listing = host.run("find " + " ".join(WATCHED) + " -type f -exec sha256sum {} + 2>/dev/null | sort -k2")
    lines = listing.stdout.splitlines()
    assert any("/etc/default/grub.d/" in line for line in lines), "no bootloader drop-in on a tuned node"
    assert any("/etc/sysctl.d/" in line for line in lines), "no sysctl file on a tuned node"
    return dict(reversed(line.split(None, 1)) for line in lines)


def run_case(hostname, index, case):
    profile = merge(copy.deepcopy(GROUP_PROFILE), case["change"])
    extra = os.path.join(SCRATCH, f"invalid-profile-{index}.json")
    with open(extra, "w", encoding="utf-8") as handle:
        json.dump({"hft_profile": profile}, handle)
    # Only the JSON report on stdout: no other callback (e.g. profile_tasks) may print there.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", INVENTORY, "--limit", hostname,
         "-e", "@" + extra, os.path.join(PROJECT, "playbooks", "production.yml")],
        capture_output=True, text=True, env=env, timeout=900, check=False)
    return proc


@pytest.fixture(scope="module")
def baseline(host):
    return snapshot(host)


@pytest.fixture(scope="module")
def runs(host, baseline):
    hostname = host.backend.get_hostname()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(run_case, hostname, i, case) for i, case in enumerate(CASES)]
        return [f.result() for f in futures]


def test_enough_distinct_invalid_profiles():
    assert len(CASES) >= 10
    assert len({(c["field"], c["reason"]) for c in CASES}) == len(CASES), "each case needs its own message"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_rejected_with_its_own_message_before_any_change(host, runs, index):
    case, proc = CASES[index], runs[index]
    assert proc.returncode != 0, f"{case['name']}: the run succeeded\n{proc.stdout[-3000:]}"
    report = json.loads(proc.stdout)
    hostname = host.backend.get_hostname()
    failed = [(task["task"]["name"], task["hosts"][hostname])
              for play in report["plays"] for task in play["tasks"]
              if task["hosts"].get(hostname, {}).get("failed")]
    assert len(failed) == 1, f"{case['name']}: failed tasks {[name for name, _unused in failed]}"
    name, result = failed[0]
    assert name.endswith("preflight : Compute the tuning plan from the profile and the node's topology"), name
    errors = result.get("errors") or []
    assert any(e["field"] == case["field"] and case["reason"] in e["reason"] for e in errors), (
        f"{case['name']}: expected {case['field']}: {case['reason']!r}; got {errors}")
    assert case["field"] in result["msg"] and case["reason"] in result["msg"], result["msg"]
    # Preflight is the only play that ran, and it changed nothing.
    plays = [play["play"]["name"] for play in report["plays"]]
    assert not any(p.startswith("Tune the HFT nodes") for p in plays), plays
    assert report["stats"][hostname]["changed"] == 0, report["stats"]


def test_node_files_byte_identical_after_every_rejected_run(host, runs, baseline):
    assert len(runs) == len(CASES)
    assert snapshot(host) == baseline
