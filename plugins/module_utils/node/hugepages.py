# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's sections hugepages: per-NUMA-node pools (nodeN/hugepages/hugepages-<kB>/nr_hugepages),
read back: a shortfall fails with the numbers.
"""

from __future__ import annotations

import os

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import format_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    check_keys,
    size_name,
    _HUGEPAGE_DIR_RE,
    _NODE_DIR_RE,
)


# ------------------------------------------------------------------ hugepages
def _hugepage_pools(ctx):
    """{(node, size_kb): abspath of nr_hugepages} for every pool the kernel has."""
    pools = {}
    node_root = "/sys/devices/system/node"
    nodes = [n for n in ctx.listdir(node_root) if _NODE_DIR_RE.match(n)]
    if nodes:
        for node_dir in nodes:
            node = int(_NODE_DIR_RE.match(node_dir).group(1))
            base = "%s/%s/hugepages" % (node_root, node_dir)
            for entry in ctx.listdir(base):
                match = _HUGEPAGE_DIR_RE.match(entry)
                if match:
                    pools[(node, int(match.group(1)))] = "%s/%s/nr_hugepages" % (base, entry)
    else:
        # CONFIG_NUMA=n: one node 0, the global pools.
        base = "/sys/kernel/mm/hugepages"
        for entry in ctx.listdir(base):
            match = _HUGEPAGE_DIR_RE.match(entry)
            if match:
                pools[(0, int(match.group(1)))] = "%s/%s/nr_hugepages" % (base, entry)
    return pools


def _node_free_kb(ctx, node):
    text = ctx.read("/sys/devices/system/node/node%d/meminfo" % node) or ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "MemFree:":
            return int(parts[3])
    return None


def section_hugepages(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "hugepages", ("pools", "release_unplanned", "reclaim"))
    raw_pools = cfg.get("pools", [])
    if not isinstance(raw_pools, list):
        raise ConfigError("hugepages.pools must be a list")
    wanted = {}
    at_boot = set()
    for index, pool in enumerate(raw_pools):
        where = "hugepages.pools[%d]" % index
        check_keys(pool, where, ("node", "size_kb", "count", "size", "at_boot"))
        for key in ("node", "size_kb", "count"):
            value = pool.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError("%s.%s must be a non-negative integer" % (where, key))
        key = (pool["node"], pool["size_kb"])
        if key in wanted:
            raise ConfigError("%s: node %d %s pages are listed twice"
                              % (where, pool["node"], size_name(pool["size_kb"])))
        wanted[key] = pool["count"]
        if pool.get("at_boot"):
            at_boot.add(key)

    available = _hugepage_pools(ctx)
    targets = dict(wanted)
    if cfg.get("release_unplanned", False):
        for key in available:
            targets.setdefault(key, 0)

    rows = []
    for (node, size_kb) in sorted(targets, key=lambda k: (-k[1], k[0])):
        path = available.get((node, size_kb))
        if path is None:
            sizes = sorted({s for (n, s) in available if n == node})
            if not sizes:
                sec.error("NUMA node %d has no hugepage pools (nodes with pools: %s)"
                          % (node, format_cpulist({n for (n, _) in available}) or "none"))
            else:
                sec.error("NUMA node %d has no %s hugepage pool (sizes there: %s)"
                          % (node, size_name(size_kb), ", ".join(size_name(s) for s in sizes)))
            continue
        current = ctx.read_int(path)
        if current is None:
            sec.error("%s is not readable as a number" % path)
            continue
        rows.append({"node": node, "size_kb": size_kb, "path": path,
                     "requested": targets[(node, size_kb)], "before": current})

    # Release first (it frees memory for the allocations), then allocate the
    # largest pages first, while memory is least fragmented.
    releases = [r for r in rows if r["before"] > r["requested"]]
    allocations = [r for r in rows if r["before"] < r["requested"]]
    for row in releases + allocations:
        if ctx.check:
            sec.change(row["path"], str(row["before"]), str(row["requested"]))
            continue
        _write_pool(sec, row)
    if not ctx.check:
        short = [r for r in allocations if r.get("got", r["before"]) < r["requested"]]
        if short and cfg.get("reclaim", True):
            # Compaction and dropping clean caches give the allocator contiguous
            # memory again; one more try for what is still missing.
            for path, value in (("/proc/sys/vm/drop_caches", "3"), ("/proc/sys/vm/compact_memory", "1")):
                if ctx.exists(path):
                    try:
                        ctx.write(path, value)
                    except (IOError, OSError) as exc:
                        sec.notice("%s: %s" % (path, os.strerror(exc.errno or 0)))
            for row in short:
                _write_pool(sec, row)
            sec.notice("retried %d short pool(s) after compacting memory" % len(short))

    shortfall = []
    result_rows = []
    for row in rows:
        now = row["before"] if ctx.check else ctx.read_int(row["path"])
        entry = {
            "node": row["node"],
            "size": size_name(row["size_kb"]),
            "size_kb": row["size_kb"],
            "requested": row["requested"],
            "before": row["before"],
            "now": now,
            # not what the plan says right now / fewer pages than planned right now
            "differs": now != row["requested"],
            "short": now is None or now < row["requested"],
            # the plan reserves this pool on the kernel command line
            "at_boot": (row["node"], row["size_kb"]) in at_boot,
        }
        row["now"] = now
        result_rows.append(entry)
        if not ctx.check and (now is None or now != row["requested"]):
            shortfall.append(entry)
    if not ctx.check:
        for row in releases + allocations:
            if row["now"] != row["before"]:
                sec.change(row["path"], str(row["before"]), str(row["now"]))
    sec.data["pools"] = result_rows
    sec.data["shortfall"] = shortfall
    if shortfall:
        parts = []
        for entry in shortfall:
            free_kb = _node_free_kb(ctx, entry["node"])
            parts.append(
                "node %d %s pages: requested %d, got %s%s"
                % (entry["node"], entry["size"], entry["requested"], entry["now"],
                   "" if free_kb is None else " (node %d MemFree %d MiB)" % (entry["node"], free_kb // 1024))
            )
        sec.error("the kernel did not provide the planned hugepages: " + "; ".join(parts))


def _write_pool(sec, row):
    try:
        sec.ctx.write(row["path"], str(row["requested"]))
    except (IOError, OSError) as exc:
        sec.notice("%s: writing %d failed: %s" % (row["path"], row["requested"], os.strerror(exc.errno or 0)))
    row["got"] = sec.ctx.read_int(row["path"])
