"""Profile helpers shared by the node suite and tests/cluster (no pytest, no Ansible)."""
import copy
import os

import yaml

PROJECT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GROUP_VARS = os.path.join(PROJECT, "inventories", "lab", "group_vars", "hft_nodes.yml")
PROFILE_CHANGE = os.path.join(PROJECT, "molecule", "node", "vars", "profile_change.yml")


def merge(base, change):
    """Ansible's combine(recursive=true) in place: mappings merged, lists replaced."""
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def group_profile():
    """The lab node group's hft_profile (a fresh copy)."""
    with open(GROUP_VARS, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["hft_profile"]


def changed_profile():
    """The group's profile with the scenario's profile change merged over it."""
    with open(PROFILE_CHANGE, encoding="utf-8") as handle:
        change = yaml.safe_load(handle)["node_scenario_profile_change"]
    return merge(copy.deepcopy(group_profile()), change)
