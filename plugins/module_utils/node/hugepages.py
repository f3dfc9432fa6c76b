# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section hugepages: per-NUMA-node pools (nodeN/hugepages/hugepages-<kB>/nr_hugepages),
read back: a shortfall fails with the numbers.

In phases, with a re-read of the pools between them:

1. ``read_hugepages`` reads the pools; ``decide_hugepages`` (pure) decides
   what to write: releases first (they free memory), then allocations, the
   largest pages first, while memory is least fragmented;
2. apply mode: the pools are read again; ``decide_hugepages_retry`` (pure):
   the allocations still short are written once more after dropping caches
   and compacting memory;
3. the pools are read again; ``report_hugepages`` (pure) gives the pools'
   report, the changes and the shortfall, which fails the section with the
   numbers (``shortfall_message``).

The writes go through the writer of core.py (``write`` actions: a failure is
a notice, the shortfall says what is missing).
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import format_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    _HUGEPAGE_DIR_RE,
    _NODE_DIR_RE,
    carry_out_decision,
    check_keys,
    message,
    size_name,
)

NODE_ROOT = "/sys/devices/system/node"
RECLAIM = (("/proc/sys/vm/drop_caches", "3"), ("/proc/sys/vm/compact_memory", "1"))


# ------------------------------------------------------------------ hugepages
def hugepages_settings(cfg):
    """pools: [{node, size_kb, count, at_boot}], release_unplanned, reclaim."""
    check_keys(cfg, "hugepages", ("pools", "release_unplanned", "reclaim"))
    raw_pools = cfg.get("pools", [])
    if not isinstance(raw_pools, list):
        raise ConfigError("hugepages.pools must be a list")
    pools = []
    seen = set()
    for index, pool in enumerate(raw_pools):
        where = "hugepages.pools[%d]" % index
        check_keys(pool, where, ("node", "size_kb", "count", "size", "at_boot"))
        for key in ("node", "size_kb", "count"):
            value = pool.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError("%s.%s must be a non-negative integer" % (where, key))
        key = (pool["node"], pool["size_kb"])
        if key in seen:
            raise ConfigError("%s: node %d %s pages are listed twice"
                              % (where, pool["node"], size_name(pool["size_kb"])))
        seen.add(key)
        pools.append({"node": pool["node"], "size_kb": pool["size_kb"], "count": pool["count"],
                      "at_boot": bool(pool.get("at_boot"))})
    return {"pools": pools, "release_unplanned": cfg.get("release_unplanned", False),
            "reclaim": cfg.get("reclaim", True)}


def read_hugepages(ctx, cfg):
    """pools: [{node, size_kb, path of nr_hugepages, count (None: not a number)}]
    of every pool the kernel has; reclaim: which of drop_caches and
    compact_memory exist."""
    pools = []
    nodes = [n for n in ctx.listdir(NODE_ROOT) if _NODE_DIR_RE.match(n)]
    if nodes:
        bases = [(int(_NODE_DIR_RE.match(n).group(1)), "%s/%s/hugepages" % (NODE_ROOT, n)) for n in nodes]
    else:
        bases = [(0, "/sys/kernel/mm/hugepages")]  # CONFIG_NUMA=n: one node 0, the global pools
    for node, base in bases:
        for entry in ctx.listdir(base):
            match = _HUGEPAGE_DIR_RE.match(entry)
            if match:
                path = "%s/%s/nr_hugepages" % (base, entry)
                pools.append({"node": node, "size_kb": int(match.group(1)), "path": path,
                              "count": ctx.read_int(path)})
    return {"pools": pools, "reclaim": [path for path, _unused in RECLAIM if ctx.exists(path)]}


def read_pool_counts(ctx, paths):
    """{path: nr_hugepages now (None: not a number)}."""
    return dict((path, ctx.read_int(path)) for path in paths)


def read_free_kb(ctx, nodes):
    """{node: its MemFree in kB, None when unknown}."""
    free = {}
    for node in nodes:
        free[node] = None
        text = ctx.read("%s/node%d/meminfo" % (NODE_ROOT, node)) or ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[2] == "MemFree:":
                free[node] = int(parts[3])
                break
    return free


def _pool_write(row):
    return {"kind": "write", "path": row["path"], "before": str(row["before"]), "after": str(row["requested"]),
            "on_failure": "%(path)s: writing %(value)s failed: %(reason)s"}


def decide_hugepages(cfg, current):
    """actions: errors for pools the kernel lacks, then the writes (releases,
    then allocations); rows: {node, size_kb, path, requested, before, at_boot}
    of every pool to bring to its count, largest pages first."""
    available = dict(((p["node"], p["size_kb"]), p) for p in current["pools"])
    targets = dict(((p["node"], p["size_kb"]), p["count"]) for p in cfg["pools"])
    at_boot = set((p["node"], p["size_kb"]) for p in cfg["pools"] if p["at_boot"])
    if cfg["release_unplanned"]:
        for key in available:
            targets.setdefault(key, 0)
    actions = []
    rows = []
    for (node, size_kb) in sorted(targets, key=lambda k: (-k[1], k[0])):
        pool = available.get((node, size_kb))
        if pool is None:
            sizes = sorted(set(s for (n, s) in available if n == node))
            if not sizes:
                actions.append(message("error", "NUMA node %d has no hugepage pools (nodes with pools: %s)"
                                       % (node, format_cpulist(set(n for (n, _unused) in available)) or "none")))
            else:
                actions.append(message("error", "NUMA node %d has no %s hugepage pool (sizes there: %s)"
                                       % (node, size_name(size_kb), ", ".join(size_name(s) for s in sizes))))
            continue
        if pool["count"] is None:
            actions.append(message("error", "%s is not readable as a number" % pool["path"]))
            continue
        rows.append({"node": node, "size_kb": size_kb, "path": pool["path"], "requested": targets[(node, size_kb)],
                     "before": pool["count"], "at_boot": (node, size_kb) in at_boot})
    releases = [row for row in rows if row["before"] > row["requested"]]
    allocations = [row for row in rows if row["before"] < row["requested"]]
    actions.extend(_pool_write(row) for row in releases + allocations)
    return {"actions": actions, "rows": rows}


def decide_hugepages_retry(cfg, current, decision, got):
    """After the writes, ``got`` {path: count read back}: the allocations still
    short get one more try after dropping caches and compacting memory, which
    give the allocator contiguous memory again."""
    short = [row for row in decision["rows"] if row["before"] < row["requested"]
             and (got.get(row["path"]) is None or got[row["path"]] < row["requested"])]
    if not short or not cfg["reclaim"]:
        return []
    actions = [{"kind": "write", "path": path, "after": value, "on_failure": "%(path)s: %(reason)s"}
               for path, value in RECLAIM if path in current["reclaim"]]
    actions.extend(_pool_write(row) for row in short)
    actions.append(message("notice", "retried %d short pool(s) after compacting memory" % len(short)))
    return actions


def report_hugepages(decision, now, check):
    """pools: each row as read ``now`` {path: count}; shortfall: those that do
    not hold the planned count after an apply; changes: what the writes changed."""
    pools = []
    shortfall = []
    for row in decision["rows"]:
        count = now.get(row["path"])
        entry = {
            "node": row["node"],
            "size": size_name(row["size_kb"]),
            "size_kb": row["size_kb"],
            "requested": row["requested"],
            "before": row["before"],
            "now": count,
            # not what the plan says right now / fewer pages than planned right now
            "differs": count != row["requested"],
            "short": count is None or count < row["requested"],
            # the plan reserves this pool on the kernel command line
            "at_boot": row["at_boot"],
        }
        pools.append(entry)
        if not check and count != row["requested"]:
            shortfall.append(entry)
    changes = []
    if not check:
        for action in decision["actions"]:
            if action["kind"] == "write" and str(now.get(action["path"])) != action["before"]:
                changes.append({"path": action["path"], "before": action["before"],
                                "after": str(now.get(action["path"]))})
    return {"pools": pools, "shortfall": shortfall, "changes": changes}


def shortfall_message(shortfall, free_kb):
    parts = []
    for entry in shortfall:
        free = free_kb.get(entry["node"])
        parts.append("node %d %s pages: requested %d, got %s%s"
                     % (entry["node"], entry["size"], entry["requested"], entry["now"],
                        "" if free is None else " (node %d MemFree %d MiB)" % (entry["node"], free // 1024)))
    return "the kernel did not provide the planned hugepages: " + "; ".join(parts)


def section_hugepages(sec, cfg):
    ctx = sec.ctx
    cfg = hugepages_settings(cfg)
    current = read_hugepages(ctx, cfg)
    decision = decide_hugepages(cfg, current)
    carry_out_decision(sec, decision)
    paths = [row["path"] for row in decision["rows"]]
    if ctx.check:
        now = dict((row["path"], row["before"]) for row in decision["rows"])
    else:
        sec.carry_out(decide_hugepages_retry(cfg, current, decision, read_pool_counts(ctx, paths)))
        now = read_pool_counts(ctx, paths)
    report = report_hugepages(decision, now, ctx.check)
    for change in report["changes"]:
        sec.change(change["path"], change["before"], change["after"])
    sec.data["pools"] = report["pools"]
    sec.data["shortfall"] = report["shortfall"]
    if report["shortfall"]:
        nodes = sorted(set(entry["node"] for entry in report["shortfall"]))
        sec.error(shortfall_message(report["shortfall"], read_free_kb(ctx, nodes)))
