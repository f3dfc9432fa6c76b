"""Invalid profiles are rejected by the main job before anything changes.

Each profile of ../vars/invalid_profiles.yml is merged over the node group's profile
and handed to playbooks/production.yml against the lab node. All of them go in
one run: the inventory gets one alias of the node per profile (the node's own
host variables, in its own groups, with that profile as its hft_profile), so
the playbook is loaded once and the node is read once per profile. Every alias
must fail in preflight with its profile's own field and reason, the tuning play
must not run, and nothing may change: the bootloader configuration, the sysctl
files and the collection's own files on the node are byte-identical before and
after the run.
"""
import copy
import json
import os
import subprocess
import sys

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


def alias(hostname, index):
    return f"{hostname}-invalid-{index:02d}"


def alias_inventory(hostname):
    """One alias of `hostname` per case: its own host variables (not its
    groups' variables, which the aliases get from their groups) in its own
    groups, with the case's profile."""
    listing = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", INVENTORY, "--list", "--export"],
        capture_output=True, text=True, timeout=300, check=True)
    inventory = json.loads(listing.stdout)
    own = inventory["_meta"]["hostvars"].get(hostname, {})
    groups = [name for name, group in inventory.items()
              if name not in ("_meta", "all", "ungrouped") and hostname in group.get("hosts", [])]
    assert groups, f"{hostname} is in no group of {INVENTORY}"
    hosts = {}
    for index, case in enumerate(CASES):
        profile = merge(copy.deepcopy(GROUP_PROFILE), case["change"])
        hosts[alias(hostname, index)] = dict(own, hft_profile=profile)
    path = os.path.join(SCRATCH, "invalid-profiles.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"all": {"children": {group: {"hosts": hosts} for group in groups}}}, handle)
    return path


@pytest.fixture(scope="module")
def baseline(host):
    return snapshot(host)


@pytest.fixture(scope="module")
def run(host, baseline):
    """The one run of every case, and its JSON report."""
    hostname = host.backend.get_hostname()
    aliases = alias_inventory(hostname)
    # Only the JSON report on stdout: no other callback (e.g. profile_tasks) may print there.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json")
    # Four aliases at a time, as many connections to the node as the separate runs made before.
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", INVENTORY, "-i", aliases, "--forks", "4",
         "--limit", ",".join(alias(hostname, i) for i in range(len(CASES))),
         os.path.join(PROJECT, "playbooks", "production.yml")],
        capture_output=True, text=True, env=env, timeout=1800, check=False)
    assert proc.returncode != 0, f"the run of the invalid profiles succeeded\n{proc.stdout[-3000:]}"
    return {"hostname": hostname, "report": json.loads(proc.stdout), "stdout": proc.stdout}


def test_enough_distinct_invalid_profiles():
    assert len(CASES) >= 10
    assert len({(c["field"], c["reason"]) for c in CASES}) == len(CASES), "each case needs its own message"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_rejected_with_its_own_message_before_any_change(run, index):
    case, report = CASES[index], run["report"]
    name_of = alias(run["hostname"], index)
    assert name_of in report["stats"], f"{case['name']}: {name_of} did not run\n{run['stdout'][-3000:]}"
    failed = [(task["task"]["name"], task["hosts"][name_of])
              for play in report["plays"] for task in play["tasks"]
              if task["hosts"].get(name_of, {}).get("failed")]
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
    assert report["stats"][name_of]["changed"] == 0, report["stats"]


def test_node_files_byte_identical_after_every_rejected_run(host, run, baseline):
    assert len(run["report"]["stats"]) == len(CASES), sorted(run["report"]["stats"])
    assert snapshot(host) == baseline
