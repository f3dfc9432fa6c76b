# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's planned settings, and what differs from them on a node.

Pure functions (no I/O).  ``kubelet_reader.py`` reads the kubelet on the node
(bot4.hft.node_state_info returns it as ``state.kubelet``); ``compare`` turns
that and the plan's ``kubelet`` block into the settings the kubelet role
writes and the differences the verify role reports:

  wanted           the plan's CPU, topology and memory manager settings, with
                   ``strict-cpu-reservation`` added where it applies and the
                   plan's reserved memory and eviction threshold merged over
                   the node's own systemReserved, kubeReserved and evictionHard
  changed_keys     the owned keys whose effective value is not the wanted one
  checkpoint_drift the CPU and memory manager checkpoints that hold another
                   policy, and a kubelet that is failing (its checkpoints may
                   disagree with its configuration)
  differences      both as items ``{item, expected, actual}``

The KubeletConfiguration documents are read on the node as text and parsed
here, on the controller (a node's Python need not have PyYAML).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

# The keys the kubelet role owns. Any change to one of them goes through the
# safe order (the CPU and memory managers check their state files against them).
OWNED_KEYS = (
    "cpuManagerPolicy",
    "cpuManagerPolicyOptions",
    "reservedSystemCPUs",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "memoryManagerPolicy",
    "reservedMemory",
    "systemReserved",
    "kubeReserved",
    "evictionHard",
)
# The kubelet's own hard eviction thresholds (pkg/kubelet/eviction): setting
# evictionHard replaces all of them, so a configuration without evictionHard
# gets these plus the planned memory threshold.
DEFAULT_EVICTION_HARD = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
    "imagefs.inodesFree": "5%",
}
# First kubelet minor where strict-cpu-reservation works without a feature gate.
STRICT_CPU_RESERVATION_SINCE = (1, 33)
STRICT_CPU_RESERVATION = "strict-cpu-reservation"
# The kubelet's flags that say where its configuration is and what the node is called.
FLAGS = ("config", "config-dir", "hostname-override", "root-dir")
# Each checkpoint and the policy it holds.
CHECKPOINTS = (("cpu_manager_state", "cpuManagerPolicy"), ("memory_manager_state", "memoryManagerPolicy"))
DEFAULT_CONFIG_FILE = "/var/lib/kubelet/config.yaml"


class KubeletError(ValueError):
    """The kubelet's configuration cannot be read or is not a KubeletConfiguration."""


def parse_flags(argv: Sequence[str]) -> Dict[str, str]:
    """--name=value and --name value -> {name: value} (the last one wins)."""
    out = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value = argv[i + 1]
                i += 1
            out[name] = value
        i += 1
    return out


def kubelet_flags(argv: Sequence[str]) -> Dict[str, str]:
    """The flags of FLAGS that a kubelet's arguments (without its binary) set."""
    return {k: v for k, v in parse_flags(argv).items() if k in FLAGS}


def parse_version(text: str) -> Optional[List[int]]:
    """[major, minor, patch] of ``kubelet --version`` output (``Kubernetes v1.33.1``), else None."""
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)
    return [int(x) for x in match.groups()] if match else None


def strict_cpu_reservation(setting: Any, version: Optional[Sequence[int]]) -> bool:
    """Whether to add the strict-cpu-reservation option: ``true``, or ``auto`` on a kubelet that has it."""
    setting = str(setting).lower()
    known = list(version or [0, 0, 0])
    return setting == "true" or (setting == "auto" and known[:2] >= list(STRICT_CPU_RESERVATION_SINCE))


def config_paths(
    flags: Dict[str, str],
    config_file: str = "auto",
    config_dir: str = "auto",
    default_config_file: str = DEFAULT_CONFIG_FILE,
) -> Tuple[str, str]:
    """The KubeletConfiguration file and drop-in directory ('' for none).

    ``auto`` takes the running kubelet's ``--config`` (else ``default_config_file``)
    and ``--config-dir`` (else none); ``none`` is no drop-in directory.
    """
    path = (flags.get("config") or default_config_file) if config_file == "auto" else config_file
    if config_dir == "auto":
        directory = flags.get("config-dir") or ""
    else:
        directory = "" if config_dir == "none" else config_dir
    return path, directory


def node_name(flags: Dict[str, str], hostname: str) -> str:
    """The node's name as the kubelet registers it: --hostname-override, else the hostname."""
    return flags.get("hostname-override") or hostname


def merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """``override`` merged into a copy of ``base``: mappings key by key, everything else replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load(document: Dict[str, str]) -> Dict[str, Any]:
    import yaml  # only where the documents are compared (the controller)

    try:
        data = yaml.safe_load(document["text"])
    except yaml.YAMLError as exc:
        raise KubeletError("%s is not YAML: %s" % (document["path"], exc))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeletError("%s is not a KubeletConfiguration (a mapping)" % document["path"])
    return data


def load_config(documents: Sequence[Dict[str, str]]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(main, effective): the main file, and it with the drop-ins merged over it in order.

    ``documents``: ``{path, text}`` of the main file, then of each drop-in (the
    kubelet merges them in file name order).
    """
    docs = [_load(d) for d in documents]
    if not docs:
        return {}, {}
    effective = docs[0]
    for doc in docs[1:]:
        effective = merge(effective, doc)
    return docs[0], effective


def wanted_settings(plan: Dict[str, Any], effective: Dict[str, Any], strict: bool) -> Dict[str, Any]:
    """The settings the kubelet must run with: ``plan`` (the plan's ``kubelet`` block) on ``effective``."""
    options = dict(plan["cpuManagerPolicyOptions"])
    if strict and plan["cpuManagerPolicy"] == "static" and STRICT_CPU_RESERVATION not in options:
        options[STRICT_CPU_RESERVATION] = "true"
    wanted = {key: copy.deepcopy(plan[key]) for key in (
        "cpuManagerPolicy", "cpuManagerPolicyOptions", "reservedSystemCPUs", "topologyManagerPolicy",
        "topologyManagerScope", "topologyManagerPolicyOptions", "memoryManagerPolicy", "reservedMemory")}
    wanted["cpuManagerPolicyOptions"] = options
    for key, default in (("systemReserved", {}), ("kubeReserved", {}), ("evictionHard", DEFAULT_EVICTION_HARD)):
        wanted[key] = dict(effective.get(key) or default)
        wanted[key].update(plan[key])
    return wanted


def changed_keys(wanted: Dict[str, Any], effective: Dict[str, Any]) -> List[str]:
    """The owned keys whose effective value is not the wanted one, in OWNED_KEYS order."""
    return [key for key in OWNED_KEYS if effective.get(key) != wanted[key]]


def checkpoint_drift(kubelet: Dict[str, Any], wanted: Dict[str, Any]) -> List[str]:
    """Why the kubelet's checkpoints must be dropped even without a changed key."""
    drift = []
    for name, key in CHECKPOINTS:
        state = kubelet.get(name) or {}
        if state.get("present") and state.get("policyName") != wanted[key]:
            held = state["policyName"] if "policyName" in state else state.get("error", "?")
            drift.append("%s holds policy %s, the plan says %s" % (name, held, wanted[key]))
    if kubelet.get("active") in ("activating", "failed"):
        drift.append("the kubelet is %s (restarted %s times): its checkpoints may disagree with its configuration"
                     % (kubelet["active"], kubelet.get("restarts", 0)))
    return drift


def differences(wanted: Dict[str, Any], effective: Dict[str, Any], keys: Iterable[str],
                drift: Iterable[str]) -> List[Dict[str, Any]]:
    """Changed keys and checkpoint drift as items ``{item, expected, actual}``."""
    items = [{"item": key, "expected": wanted[key], "actual": effective.get(key)} for key in keys]
    items += [{"item": "checkpoints", "expected": "the planned policies", "actual": text} for text in drift]
    return items


def compare(plan: Dict[str, Any], kubelet: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The kubelet (``state.kubelet`` of node_state_info) against the plan's ``kubelet`` block.

    A node without a kubelet has nothing to compare (``installed`` false, no
    differences).  Raises KubeletError when the kubelet's configuration
    cannot be read.
    """
    kubelet = kubelet or {}
    config = kubelet.get("config") or {}
    result = {"installed": bool(kubelet.get("installed")), "file": config.get("file", ""),
              "dir": config.get("dir", ""), "main": {}, "effective": {}, "wanted": {},
              "owned_keys": list(OWNED_KEYS), "changed_keys": [], "checkpoint_drift": [], "differences": []}
    if not result["installed"]:
        return result
    if config.get("error") or not config.get("documents"):
        raise KubeletError("cannot read the kubelet's configuration (%s); the kubelet must run with a "
                           "KubeletConfiguration file (--config)" % (config.get("error") or "%s: not read" % result["file"]))
    result["main"], result["effective"] = load_config(config["documents"])
    result["wanted"] = wanted_settings(plan, result["effective"], bool(kubelet.get("strict_cpu_reservation")))
    result["changed_keys"] = changed_keys(result["wanted"], result["effective"])
    result["checkpoint_drift"] = checkpoint_drift(kubelet, result["wanted"])
    result["differences"] = differences(result["wanted"], result["effective"], result["changed_keys"],
                                        result["checkpoint_drift"])
    return result


def restore_owned(config: Dict[str, Any], originals: Dict[str, Any]) -> Dict[str, Any]:
    """The KubeletConfiguration ``config`` with the owned keys back at their ``originals``
    (the values kept before the first change; null: the key was not set). Other keys,
    and their order, stay as they are; a key that was not set is removed."""
    unknown = sorted(set(originals) - set(OWNED_KEYS))
    if unknown:
        raise ValueError("the kept values name keys the collection does not own: %s" % ", ".join(unknown))
    out = {key: value for key, value in config.items() if key not in OWNED_KEYS}
    for key in OWNED_KEYS:
        if originals.get(key) is not None:
            out[key] = copy.deepcopy(originals[key])
    return out
