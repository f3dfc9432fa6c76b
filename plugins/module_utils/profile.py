# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``hft_profile`` schema: shape checks, defaults and normalisation.

``normalize_profile(raw)`` returns the profile with every default filled in
and every value in canonical form (cpulists re-formatted, sizes as ``1G`` /
``2M``, PCI addresses with their domain, memory in MiB strings), or raises
``ProfileError`` listing *all* problems found.  Nothing here knows the
machine; rules that need the topology live in ``planner.py``.

docs/profile.md is the user-facing reference for every field below; keep the
two in step.
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    parse_cpulist,
)
from ansible_collections.bot4.hft.plugins.module_utils.kernel_policy import (
    OWNED_ARGS,
    arg_sysctl,
    extra_arg_problem,
    owned_sysctl_problem,
    sysctl_key,
    sysctl_name_problem,
)

__all__ = [
    "ProfileError",
    "check_profile",
    "normalize_profile",
    "parse_size_kb",
    "size_name",
    "parse_quantity_bytes",
    "format_quantity",
    "OWNED_ARG_HINTS",
    "DEFAULTS",
]

ROOT = "hft_profile"


class ProfileError(ValueError):
    """Every problem found in a profile, each as (field path, reason)."""

    def __init__(self, errors: List[Tuple[str, str]], root: str = ROOT):
        self.errors = list(errors)
        self.root = root
        super().__init__(self.message())

    def message(self) -> str:
        count = len(self.errors)
        head = "%s is invalid (%d problem%s):" % (self.root, count, "" if count == 1 else "s")
        return "\n".join([head] + ["- %s: %s" % (f, r) for f, r in self.errors])

    def as_list(self) -> List[Dict[str, str]]:
        return [{"field": f, "reason": r} for f, r in self.errors]


# Defaults, also the list of known keys per section.  ``None`` means "leave
# the machine's setting alone" where the docs say so.
DEFAULTS: Dict[str, Any] = {
    "name": None,
    "cpu": {
        "reserved": "auto",
        "isolated": "auto",
        "reserved_cores": 1,
        "reserved_numa": "spread",
        "isolation": "static",
        "smt": "enabled",
        "offline": "",
    },
    "numa": {
        "topology_policy": "single-numa-node",
        "topology_scope": "container",
        "topology_policy_options": {},
        "nic_locality": "required",
    },
    "hugepages": {
        "default_size": "1G",
        "pages": [],
        "boot": "auto",
        "release_unplanned": False,
    },
    "dpdk": {
        "devices": [],
        "driver": "vfio-pci",
        "allow_noiommu": False,
    },
    "kubelet": {
        "cpu_manager_policy": "static",
        "cpu_manager_policy_options": {"full-pcpus-only": "true"},
        "memory_manager_policy": "Static",
        "system_reserved_memory": "512Mi",
        "kube_reserved_memory": "512Mi",
        "eviction_hard_memory": "100Mi",
    },
    "power": {
        "governor": "performance",
        "max_cstate": 1,
        "idle_poll": False,
        "pstate": "passive",
        "energy_perf_bias": "performance",
        "energy_performance_preference": "performance",
        "min_perf_pct": None,
    },
    "kernel": {
        "extra_args": [],
        "nosoftlockup": True,
        "skew_tick": True,
        "tsc_reliable": True,
        "mce_ignore_ce": True,
        "nmi_watchdog": False,
        "thp": "never",
        "iommu": "auto",
        "realtime": False,
        "realtime_scheduling": False,
    },
    "sysctl": {},
    "housekeeping": {
        "irqbalance": "banned",
        "irq_policy": "intersect",
        "rps_include": ["*"],
        "rps_exclude": ["lo"],
        "cpuset_slices": ["system.slice", "user.slice"],
        # Threads the apply-time sweep leaves on the isolated CPUs (fnmatch on
        # the thread's or its process's name): DPDK lcores and PMD threads,
        # virtual machines' vCPUs.
        "sweep_deny": ["dpdk*", "lcore-*", "rte_*", "*pmd*", "qemu*", "CPU */KVM"],
    },
    "latency_gate": {
        "enabled": True,
        "tool": "oslat",
        "duration_s": 30,
        "max_us": 20,
        "cpus": "auto",
    },
}

ISOLATION = ("static", "balanced")
SMT = ("enabled", "disabled")
RESERVED_NUMA = ("spread", "first")
TOPOLOGY_POLICIES = ("none", "best-effort", "restricted", "single-numa-node")
TOPOLOGY_SCOPES = ("container", "pod")
TOPOLOGY_POLICY_OPTIONS = {
    "prefer-closest-numa-nodes": "bool",
    "max-allowable-numa-nodes": "int",
}
NIC_LOCALITY = ("required", "preferred", "ignore")
HUGEPAGE_BOOT = ("auto", "per_node", "total", "runtime")
DPDK_DRIVERS = ("vfio-pci", "uio_pci_generic")
DEVICE_DRIVERS = DPDK_DRIVERS + ("kernel",)
CPU_MANAGER_OPTIONS = (
    "full-pcpus-only",
    "distribute-cpus-across-numa",
    "align-by-socket",
    "distribute-cpus-across-cores",
    "strict-cpu-reservation",
    "prefer-align-cpus-by-uncorecache",
)
MEMORY_MANAGER_POLICIES = ("Static", "None")
CPU_MANAGER_POLICIES = ("static", "none")
GOVERNORS = ("performance", "powersave", "schedutil", "ondemand", "conservative", "userspace")
PSTATES = ("active", "passive", "guided", "disable")
EPB = ("performance", "balance-performance", "normal", "balance-power", "power")
EPP = ("default", "performance", "balance_performance", "balance_power", "power")
THP = ("never", "madvise", "always")
KERNEL_IOMMU = ("auto", "on", "off")
LATENCY_TOOLS = ("oslat", "cyclictest")
IRQBALANCE = ("banned", "disabled")
IRQ_POLICIES = ("intersect", "replace")

_PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_PCI_ID_RE = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")
# An interface name pattern (fnmatch): what a name may hold, plus * ? [ ].
_IFPATTERN_RE = re.compile(r"^[^\s/:'\"]{1,15}$")
# A systemd slice unit name (systemd.unit(5): letters, digits, ":-_.\\"; "-" nests).
_SLICE_RE = re.compile(r"^[A-Za-z0-9:_.\\-]{1,249}\.slice$")
_SIZE_RE = re.compile(r"^([0-9]+)\s*(k|K|kB|KB|KiB|M|MB|Mi|MiB|G|GB|Gi|GiB)$")
_QUANTITY_RE = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")

_SIZE_UNITS_KB = {"k": 1, "m": 1024, "g": 1024 * 1024}
_QUANTITY_UNITS = {
    None: 1,
    "k": 1000,
    "M": 1000 ** 2,
    "G": 1000 ** 3,
    "T": 1000 ** 4,
    "Ki": 1024,
    "Mi": 1024 ** 2,
    "Gi": 1024 ** 3,
    "Ti": 1024 ** 4,
}

# Kernel command-line keys the collection owns (kernel_policy.OWNED_ARGS).
OWNED_ARG_HINTS = OWNED_ARGS


def parse_size_kb(value: Any) -> int:
    """``1G`` / ``2M`` / ``2048kB`` / ``1Gi`` -> size in kB."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("must be a size string such as 2M or 1G, got %s" % _describe(value))
    match = _SIZE_RE.match(value.strip())
    if not match:
        raise ValueError("%r is not a size such as 2M or 1G" % value)
    number = int(match.group(1))
    if number <= 0:
        raise ValueError("%r is not a positive size" % value)
    return number * _SIZE_UNITS_KB[match.group(2)[0].lower()]


def size_name(size_kb: int) -> str:
    """Canonical page size name as the kernel's hugepagesz= takes it."""
    if size_kb % (1024 * 1024) == 0:
        return "%dG" % (size_kb // (1024 * 1024))
    if size_kb % 1024 == 0:
        return "%dM" % (size_kb // 1024)
    return "%dK" % size_kb


def parse_quantity_bytes(value: Any) -> int:
    """Kubernetes memory quantity (``512Mi``, ``1Gi``, ``100M``, bytes) -> bytes."""
    if isinstance(value, bool):
        raise ValueError("must be a quantity such as 512Mi, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if not isinstance(value, str):
        raise ValueError("must be a quantity such as 512Mi, got %s" % _describe(value))
    match = _QUANTITY_RE.match(value.strip())
    if not match:
        raise ValueError("%r is not a memory quantity such as 512Mi or 1Gi" % value)
    return int(match.group(1)) * _QUANTITY_UNITS[match.group(2)]


def format_quantity(nbytes: int) -> str:
    """Bytes -> ``<n>Mi`` when whole MiB, else plain bytes."""
    if nbytes % (1024 ** 2) == 0:
        return "%dMi" % (nbytes // (1024 ** 2))
    return str(nbytes)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean %s" % ("true" if value else "false")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "%s %r" % (type(value).__name__, value)


class _Checker:
    """Collects (path, reason) pairs while normalising."""

    def __init__(self, root: str):
        self.root = root
        self.errors: List[Tuple[str, str]] = []
        self.warnings: List[str] = []

    def path(self, *parts) -> str:
        out = self.root
        for part in parts:
            out += "[%d]" % part if isinstance(part, int) else "." + part
        return out

    def fail(self, path: str, reason: str) -> None:
        self.errors.append((path, reason))

    # -- generic shapes ------------------------------------------------------
    def mapping(self, value: Any, path: str, allowed) -> Dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping, got %s" % _describe(value))
            return {}
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.5)
                hint = " (did you mean %r?)" % close[0] if close else ""
                self.fail(
                    "%s.%s" % (path, key),
                    "unknown key%s; known keys: %s" % (hint, ", ".join(sorted(allowed))),
                )
        return value

    def choice(self, value: Any, path: str, choices) -> Optional[str]:
        if isinstance(value, str) and value in choices:
            return value
        hint = ""
        if isinstance(value, bool):
            hint = " (YAML reads unquoted on/off/yes/no as booleans: quote the value)"
        self.fail(
            path,
            "must be one of %s, got %s%s" % (", ".join(choices), _describe(value), hint),
        )
        return None

    def boolean(self, value: Any, path: str) -> Optional[bool]:
        if isinstance(value, bool):
            return value
        self.fail(path, "must be true or false, got %s" % _describe(value))
        return None

    def integer(self, value: Any, path: str, minimum=None, maximum=None) -> Optional[int]:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "must be an integer, got %s" % _describe(value))
            return None
        if minimum is not None and value < minimum:
            self.fail(path, "must be >= %d, got %d" % (minimum, value))
            return None
        if maximum is not None and value > maximum:
            self.fail(path, "must be <= %d, got %d" % (maximum, value))
            return None
        return value

    def cpulist_or_auto(self, value: Any, path: str) -> Optional[str]:
        if value == "auto":
            return "auto"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(path, 'must be "auto" or a cpulist such as "2-15,18", got %s' % _describe(value))
            return None
        try:
            return format_cpulist(parse_cpulist(value))
        except ValueError as exc:
            self.fail(path, str(exc))
            return None


def normalize_profile(raw: Any, root: str = ROOT) -> Tuple[Dict[str, Any], List[str]]:
    """Validate the profile's shape and fill in defaults.

    Returns (normalized profile, warnings).  Raises ProfileError with every
    shape problem found.
    """
    out, warnings, errors = check_profile(raw, root)
    if errors:
        raise ProfileError(errors, root)
    return out, warnings


def check_profile(raw: Any, root: str = ROOT) -> Tuple[Dict[str, Any], List[str], List[Tuple[str, str]]]:
    """Like normalize_profile, but return (profile, warnings, errors).

    Every field named by an error is reset to its default in the returned
    profile, so the machine-dependent rules can still run on the rest.
    """
    chk = _Checker(root)
    out = copy.deepcopy(DEFAULTS)
    if raw is None:
        raw = {}
    top = chk.mapping(raw, root, DEFAULTS.keys())
    if "name" in top and top["name"] is not None:
        if isinstance(top["name"], str) and top["name"].strip():
            out["name"] = top["name"].strip()
        else:
            chk.fail(chk.path("name"), "must be a non-empty string, got %s" % _describe(top["name"]))

    _cpu(chk, top.get("cpu"), out["cpu"])
    _numa(chk, top.get("numa"), out["numa"])
    _hugepages(chk, top.get("hugepages"), out["hugepages"])
    _dpdk(chk, top.get("dpdk"), out["dpdk"])
    _kubelet(chk, top.get("kubelet"), out["kubelet"])
    _power(chk, top.get("power"), out["power"])
    _kernel(chk, top.get("kernel"), out["kernel"])
    _sysctl(chk, top.get("sysctl"), out)
    _housekeeping(chk, top.get("housekeeping"), out["housekeeping"])
    _latency_gate(chk, top.get("latency_gate"), out["latency_gate"])
    _ignored(chk, top, out)

    for path, _unused in chk.errors:
        _reset_to_default(out, path, root)
    return out, chk.warnings, chk.errors


# Kubelet settings that the chosen policy makes meaningless: given anyway,
# they are refused rather than silently dropped (cpu.reserved_cores and
# reserved_numa beside an explicit cpulist get a warning, see _cpu).  (section, key, what
# makes it meaningless, a test on the normalised profile.)
_IGNORED = (
    ("kubelet", "cpu_manager_policy_options", "kubelet.cpu_manager_policy: none (the kubelet takes no options with it)",
     lambda p: p["kubelet"]["cpu_manager_policy"] == "none"),
    ("numa", "topology_policy_options", "numa.topology_policy: none (the topology manager does nothing)",
     lambda p: p["numa"]["topology_policy"] == "none"),
    ("numa", "topology_scope", "numa.topology_policy: none (the topology manager does nothing)",
     lambda p: p["numa"]["topology_policy"] == "none"),
)


def _ignored(chk: _Checker, top: Dict[str, Any], out: Dict[str, Any]) -> None:
    failed = {path for path, _reason in chk.errors}
    for section, key, why, applies in _IGNORED:
        raw = top.get(section)
        if not isinstance(raw, dict) or key not in raw or raw[key] in (None, {}):
            continue
        path = chk.path(section, key)
        # only when the value and the setting that makes it meaningless are both valid
        if any(f == path or f.startswith(path + ".") for f in failed) or not applies(out):
            continue
        chk.fail(path, "is ignored with %s; remove it" % why)


def _reset_to_default(out: Dict[str, Any], path: str, root: str) -> None:
    parts = re.split(r"[.\[]", path[len(root) + 1:]) if path.startswith(root + ".") else []
    if not parts or parts[0] not in DEFAULTS:
        return
    section = parts[0]
    default = DEFAULTS[section]
    if len(parts) == 1 or not isinstance(default, dict) or not default:
        out[section] = copy.deepcopy(default)
    elif parts[1] in default:
        out[section][parts[1]] = copy.deepcopy(default[parts[1]])


def _cpu(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("cpu"), out.keys())
    for key in ("reserved", "isolated"):
        if key in sec:
            out[key] = chk.cpulist_or_auto(sec[key], chk.path("cpu", key))
    if "reserved_cores" in sec:
        out["reserved_cores"] = chk.integer(sec["reserved_cores"], chk.path("cpu", "reserved_cores"), 1)
    if "reserved_numa" in sec:
        value = sec["reserved_numa"]
        path = chk.path("cpu", "reserved_numa")
        if isinstance(value, list):
            nodes = []
            for index, item in enumerate(value):
                node = chk.integer(item, "%s[%d]" % (path, index), 0)
                if node is not None:
                    nodes.append(node)
            if not value:
                chk.fail(path, "an empty list reserves nothing; use spread, first or node ids")
            out["reserved_numa"] = sorted(set(nodes))
        elif isinstance(value, str) and value in RESERVED_NUMA:
            out["reserved_numa"] = value
        else:
            chk.fail(path, "must be spread, first or a list of NUMA node ids, got %s" % _describe(value))
    if "isolation" in sec:
        out["isolation"] = chk.choice(sec["isolation"], chk.path("cpu", "isolation"), ISOLATION)
    if "smt" in sec:
        out["smt"] = chk.choice(sec["smt"], chk.path("cpu", "smt"), SMT)
    if "offline" in sec:
        value = sec["offline"]
        path = chk.path("cpu", "offline")
        if value is None or value == "":
            out["offline"] = ""
        elif value == "auto" or not isinstance(value, (str, int)) or isinstance(value, bool):
            chk.fail(path, 'must be a cpulist such as "6-7" (the CPUs taken offline at every boot), got %s'
                     % _describe(value))
        else:
            out["offline"] = chk.cpulist_or_auto(value, path)
    # Warned about, not refused: a group's reserved_cores stays valid for a
    # host of the group that gives its own cpulist.
    explicit = [key for key in ("reserved", "isolated") if out.get(key) not in (None, "auto")]
    if explicit:
        for key in ("reserved_cores", "reserved_numa"):
            if key in sec:
                chk.warnings.append(
                    "%s is ignored because %s is an explicit cpulist"
                    % (chk.path("cpu", key), chk.path("cpu", explicit[0]))
                )


def _numa(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("numa"), out.keys())
    if "topology_policy" in sec:
        out["topology_policy"] = chk.choice(
            sec["topology_policy"], chk.path("numa", "topology_policy"), TOPOLOGY_POLICIES
        )
    if "topology_scope" in sec:
        out["topology_scope"] = chk.choice(
            sec["topology_scope"], chk.path("numa", "topology_scope"), TOPOLOGY_SCOPES
        )
    if "nic_locality" in sec:
        out["nic_locality"] = chk.choice(sec["nic_locality"], chk.path("numa", "nic_locality"), NIC_LOCALITY)
    if "topology_policy_options" in sec:
        path = chk.path("numa", "topology_policy_options")
        opts = chk.mapping(sec["topology_policy_options"], path, TOPOLOGY_POLICY_OPTIONS.keys())
        result = {}
        for key, value in opts.items():
            kind = TOPOLOGY_POLICY_OPTIONS.get(key)
            if kind == "bool":
                flag = _bool_string(value)
                if flag is None:
                    chk.fail("%s.%s" % (path, key), "must be true or false, got %s" % _describe(value))
                else:
                    result[key] = flag
            elif kind == "int":
                number = chk.integer(value, "%s.%s" % (path, key), 1)
                if number is not None:
                    result[key] = str(number)
        out["topology_policy_options"] = dict(sorted(result.items()))


def _hugepages(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("hugepages"), out.keys())
    if "default_size" in sec:
        path = chk.path("hugepages", "default_size")
        try:
            out["default_size"] = size_name(parse_size_kb(sec["default_size"]))
        except ValueError as exc:
            chk.fail(path, str(exc))
    if "boot" in sec:
        out["boot"] = chk.choice(sec["boot"], chk.path("hugepages", "boot"), HUGEPAGE_BOOT)
    if "release_unplanned" in sec:
        out["release_unplanned"] = chk.boolean(sec["release_unplanned"], chk.path("hugepages", "release_unplanned"))
    if "pages" in sec:
        path = chk.path("hugepages", "pages")
        pages = sec["pages"]
        if pages is None:
            pages = []
        if not isinstance(pages, list):
            chk.fail(path, "must be a list of {size, count, node}, got %s" % _describe(pages))
            pages = []
        result = []
        seen = {}
        for index, item in enumerate(pages):
            ipath = "%s[%d]" % (path, index)
            entry = chk.mapping(item, ipath, ("size", "count", "node"))
            if not isinstance(item, dict):
                continue
            page = {}
            for key in ("size", "count", "node"):
                if key not in entry:
                    chk.fail("%s.%s" % (ipath, key), "is required")
            if "size" in entry:
                try:
                    page["size"] = size_name(parse_size_kb(entry["size"]))
                except ValueError as exc:
                    chk.fail(ipath + ".size", str(exc))
            if "count" in entry:
                count = chk.integer(entry["count"], ipath + ".count", 0)
                if count is not None:
                    page["count"] = count
            if "node" in entry:
                node = entry["node"]
                if node in ("nic", "all"):
                    page["node"] = node
                elif isinstance(node, int) and not isinstance(node, bool) and node >= 0:
                    page["node"] = node
                else:
                    chk.fail(
                        ipath + ".node",
                        'must be a NUMA node id, "nic" or "all", got %s' % _describe(node),
                    )
            if len(page) == 3:
                key = (page["size"], page["node"])
                if key in seen:
                    chk.fail(
                        ipath,
                        "duplicates %s[%d] (size %s, node %s); give each size and node once"
                        % (path, seen[key], page["size"], page["node"]),
                    )
                else:
                    seen[key] = index
                result.append(page)
        out["pages"] = result


def _dpdk(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("dpdk"), out.keys())
    if "driver" in sec:
        out["driver"] = chk.choice(sec["driver"], chk.path("dpdk", "driver"), DPDK_DRIVERS)
    if "allow_noiommu" in sec:
        out["allow_noiommu"] = chk.boolean(sec["allow_noiommu"], chk.path("dpdk", "allow_noiommu"))
    if "devices" in sec:
        path = chk.path("dpdk", "devices")
        devices = sec["devices"]
        if devices is None:
            devices = []
        if not isinstance(devices, list):
            chk.fail(path, "must be a list of device selectors, got %s" % _describe(devices))
            devices = []
        result = []
        for index, item in enumerate(devices):
            ipath = "%s[%d]" % (path, index)
            entry = chk.mapping(item, ipath, ("pci", "interface", "id", "index", "driver"))
            if not isinstance(item, dict):
                continue
            selectors = [k for k in ("pci", "interface", "id") if k in entry]
            if len(selectors) != 1:
                chk.fail(
                    ipath,
                    "give exactly one of pci, interface or id (got %s)"
                    % (", ".join(selectors) if selectors else "none"),
                )
                continue
            kind = selectors[0]
            device = {}
            value = entry[kind]
            if kind == "pci":
                match = _PCI_RE.match(value) if isinstance(value, str) else None
                if not match:
                    chk.fail(ipath + ".pci", "must be a PCI address such as 0000:81:00.0, got %s" % _describe(value))
                    continue
                domain = match.group(1) or "0000"
                device["pci"] = ("%s:%s:%s.%s" % (domain, match.group(2), match.group(3), match.group(4))).lower()
            elif kind == "interface":
                if not isinstance(value, str) or not _IFNAME_RE.match(value):
                    chk.fail(ipath + ".interface", "must be a network interface name, got %s" % _describe(value))
                    continue
                device["interface"] = value
            else:
                match = _PCI_ID_RE.match(value) if isinstance(value, str) else None
                if not match:
                    chk.fail(
                        ipath + ".id",
                        'must be a "vendor:device" PCI id such as 8086:10fb, got %s' % _describe(value),
                    )
                    continue
                device["id"] = value.lower()
                device["index"] = 0
            if "index" in entry:
                if kind != "id":
                    chk.fail(ipath + ".index", "is only used with id")
                else:
                    number = chk.integer(entry["index"], ipath + ".index", 0)
                    if number is not None:
                        device["index"] = number
            if "driver" in entry:
                device["driver"] = chk.choice(entry["driver"], ipath + ".driver", DEVICE_DRIVERS)
            result.append(device)
        out["devices"] = result


def _kubelet(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("kubelet"), out.keys())
    if "cpu_manager_policy" in sec:
        out["cpu_manager_policy"] = chk.choice(
            sec["cpu_manager_policy"], chk.path("kubelet", "cpu_manager_policy"), CPU_MANAGER_POLICIES
        )
    if "cpu_manager_policy_options" in sec:
        path = chk.path("kubelet", "cpu_manager_policy_options")
        opts = chk.mapping(sec["cpu_manager_policy_options"], path, CPU_MANAGER_OPTIONS)
        result = {}
        for key, value in opts.items():
            if key not in CPU_MANAGER_OPTIONS:
                continue
            flag = _bool_string(value)
            if flag is None:
                chk.fail("%s.%s" % (path, key), "must be true or false, got %s" % _describe(value))
            else:
                result[key] = flag
        out["cpu_manager_policy_options"] = dict(sorted(result.items()))
    if "memory_manager_policy" in sec:
        out["memory_manager_policy"] = chk.choice(
            sec["memory_manager_policy"], chk.path("kubelet", "memory_manager_policy"), MEMORY_MANAGER_POLICIES
        )
    for key in ("system_reserved_memory", "kube_reserved_memory", "eviction_hard_memory"):
        if key in sec:
            try:
                out[key] = format_quantity(parse_quantity_bytes(sec[key]))
            except ValueError as exc:
                chk.fail(chk.path("kubelet", key), str(exc))


def _power(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("power"), out.keys())
    if "min_perf_pct" in sec:
        value = sec["min_perf_pct"]
        out["min_perf_pct"] = None if value is None else chk.integer(value, chk.path("power", "min_perf_pct"), 0, 100)
    for key, choices in (("governor", GOVERNORS), ("pstate", PSTATES), ("energy_perf_bias", EPB),
                         ("energy_performance_preference", EPP)):
        if key in sec:
            out[key] = None if sec[key] is None else chk.choice(sec[key], chk.path("power", key), choices)
    if "max_cstate" in sec:
        value = sec["max_cstate"]
        out["max_cstate"] = None if value is None else chk.integer(value, chk.path("power", "max_cstate"), 0, 9)
    if "idle_poll" in sec:
        out["idle_poll"] = chk.boolean(sec["idle_poll"], chk.path("power", "idle_poll"))


def _kernel(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("kernel"), out.keys())
    for key in ("nosoftlockup", "skew_tick", "tsc_reliable", "mce_ignore_ce", "nmi_watchdog", "realtime",
                "realtime_scheduling"):
        if key in sec:
            out[key] = chk.boolean(sec[key], chk.path("kernel", key))
    if "thp" in sec:
        out["thp"] = chk.choice(sec["thp"], chk.path("kernel", "thp"), THP)
    if "iommu" in sec:
        out["iommu"] = chk.choice(sec["iommu"], chk.path("kernel", "iommu"), KERNEL_IOMMU)
    if "extra_args" in sec:
        path = chk.path("kernel", "extra_args")
        args = sec["extra_args"]
        if args is None:
            args = []
        if not isinstance(args, list):
            chk.fail(path, "must be a list of kernel arguments, got %s" % _describe(args))
            args = []
        result = []
        for index, arg in enumerate(args):
            ipath = "%s[%d]" % (path, index)
            if not isinstance(arg, str) or not arg.strip():
                chk.fail(ipath, "must be a non-empty string, got %s" % _describe(arg))
                continue
            arg = arg.strip()
            if any(c.isspace() for c in arg) or '"' in arg:
                chk.fail(ipath, "%r holds whitespace or quotes; give one argument per list item" % arg)
                continue
            problem = extra_arg_problem(arg)
            if problem is not None:
                chk.fail(ipath, problem)
                continue
            if arg in result:
                chk.fail(ipath, "%r is listed twice" % arg)
                continue
            sets = arg_sysctl(arg)
            if sets is not None:
                other = [(a, arg_sysctl(a)) for a in result if arg_sysctl(a) is not None]
                other = [(a, v) for a, (n, v) in other if sysctl_key(n) == sysctl_key(sets[0])]
                if other and _words(other[0][1]) != _words(sets[1]):
                    chk.fail(ipath, "%r sets the sysctl %s to %r, but %r sets it to %r; set it once"
                             % (arg, sets[0], sets[1], other[0][0], other[0][1]))
                    continue
            result.append(arg)
        out["extra_args"] = result


def _sysctl(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    path = chk.path("sysctl")
    if raw is None:
        return
    if not isinstance(raw, dict):
        chk.fail(path, "must be a mapping of sysctl name to value, got %s" % _describe(raw))
        return
    result: Dict[str, str] = {}
    seen: Dict[str, str] = {}
    # what kernel.extra_args sets through the command line, by /proc/sys file
    by_args = {}
    for index, arg in enumerate(out["kernel"]["extra_args"]):
        sets = arg_sysctl(arg)
        if sets is not None:
            by_args.setdefault(sysctl_key(sets[0]), (index, arg, sets[1]))
    for key, value in raw.items():
        kpath = "%s.%s" % (path, key)
        problem = sysctl_name_problem(key)
        if problem is not None:
            chk.fail(kpath, problem)
            continue
        owned = owned_sysctl_problem(key)
        if owned is not None:
            chk.fail(kpath, owned)
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            chk.fail(kpath, "must be a string or a number, got %s" % _describe(value))
            continue
        text = str(value).strip()
        if "\n" in text:
            chk.fail(kpath, "must be a single line")
            continue
        if not text:
            chk.fail(kpath, "is empty; give a value, or leave the sysctl out to keep the machine's")
            continue
        file_key = sysctl_key(key)
        if file_key in seen:
            chk.fail(kpath, "is the sysctl %s again (as %s); give it once" % (seen[file_key], key))
            continue
        seen[file_key] = key
        if file_key in by_args and _words(by_args[file_key][2]) != _words(text):
            index, arg, arg_value = by_args[file_key]
            chk.fail(
                kpath,
                "%r contradicts kernel.extra_args[%d] %r, which sets it to %r; set it one way"
                % (text, index, arg, arg_value),
            )
            continue
        result[key] = text
    out["sysctl"] = dict(sorted(result.items()))


def _words(text: str) -> str:
    return " ".join(str(text).split())


def _housekeeping(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("housekeeping"), out.keys())
    if "irqbalance" in sec:
        out["irqbalance"] = chk.choice(sec["irqbalance"], chk.path("housekeeping", "irqbalance"), IRQBALANCE)
    if "irq_policy" in sec:
        out["irq_policy"] = chk.choice(sec["irq_policy"], chk.path("housekeeping", "irq_policy"), IRQ_POLICIES)
    for key in ("rps_include", "rps_exclude"):
        if key not in sec:
            continue
        path = chk.path("housekeeping", key)
        value = sec[key]
        if value is None:
            value = []
        if not isinstance(value, list):
            chk.fail(path, "must be a list of interface name patterns, got %s" % _describe(value))
            continue
        patterns = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not _IFPATTERN_RE.match(item):
                chk.fail(
                    "%s[%d]" % (path, index),
                    "must be an interface name or fnmatch pattern (at most 15 characters, "
                    "no space, slash, colon or quote), got %s" % _describe(item),
                )
                continue
            if item not in patterns:
                patterns.append(item)
        out[key] = patterns
    if "cpuset_slices" in sec:
        out["cpuset_slices"] = _cpuset_slices(chk, sec["cpuset_slices"], chk.path("housekeeping", "cpuset_slices"))
    if "sweep_deny" in sec:
        path = chk.path("housekeeping", "sweep_deny")
        value = [] if sec["sweep_deny"] is None else sec["sweep_deny"]
        if not isinstance(value, list):
            chk.fail(path, "must be a list of thread name patterns such as dpdk*, got %s" % _describe(value))
        else:
            patterns = []
            for index, item in enumerate(value):
                # a task's comm: at most 15 characters (TASK_COMM_LEN 16); a pattern may be longer
                if not isinstance(item, str) or not item.strip() or len(item) > 64 or "/" == item[:1]:
                    chk.fail("%s[%d]" % (path, index), "must be a thread name or fnmatch pattern "
                             "(1-64 characters, not starting with '/'), got %s" % _describe(item))
                    continue
                if item not in patterns:
                    patterns.append(item)
            out["sweep_deny"] = patterns


def _cpuset_slices(chk: _Checker, value: Any, path: str) -> List[str]:
    """systemd slices confined to the reserved CPUs: never the root slice or the kubelet's pods."""
    if value is None:
        return []
    if not isinstance(value, list):
        chk.fail(path, "must be a list of systemd slice names such as system.slice, got %s" % _describe(value))
        return []
    slices: List[str] = []
    for index, item in enumerate(value):
        ipath = "%s[%d]" % (path, index)
        if not isinstance(item, str) or not _SLICE_RE.match(item):
            chk.fail(ipath, "must be a systemd slice name such as system.slice, got %s" % _describe(item))
        elif item == "-.slice":
            chk.fail(ipath, "is the root slice: confining it would confine the pods too")
        elif item.startswith("kubepods"):
            chk.fail(ipath, "holds the kubelet's pods, which the kubelet places on CPUs itself")
        elif item not in slices:
            slices.append(item)
    return slices


def _latency_gate(chk: _Checker, raw: Any, out: Dict[str, Any]) -> None:
    sec = chk.mapping(raw, chk.path("latency_gate"), out.keys())
    if "enabled" in sec:
        out["enabled"] = chk.boolean(sec["enabled"], chk.path("latency_gate", "enabled"))
    if "tool" in sec:
        out["tool"] = chk.choice(sec["tool"], chk.path("latency_gate", "tool"), LATENCY_TOOLS)
    if "duration_s" in sec:
        out["duration_s"] = chk.integer(sec["duration_s"], chk.path("latency_gate", "duration_s"), 1, 86400)
    if "max_us" in sec:
        out["max_us"] = chk.integer(sec["max_us"], chk.path("latency_gate", "max_us"), 1, 60000000)
    if "cpus" in sec:
        out["cpus"] = chk.cpulist_or_auto(sec["cpus"], chk.path("latency_gate", "cpus"))


def _bool_string(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    return None
