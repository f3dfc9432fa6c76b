# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's sections irq (default and per-IRQ affinity; managed IRQs refuse with EIO: skipped and
counted), workqueue (unbound workqueues' cpumask) and rps (receive packet
steering): housekeeping on the reserved CPUs.
"""

from __future__ import annotations

import errno
import fnmatch
import os

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    format_mask,
    parse_cpulist,
    parse_mask,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    cpus_option,
    check_keys,
)


# ------------------------------------------------------------------------ irq
MANAGED_STATE_FILE = "managed-irqs.json"


def _load_managed(ctx):
    irqs = ctx.load_state(MANAGED_STATE_FILE, "irqs")
    return set(i for i in irqs if isinstance(i, int)) if isinstance(irqs, list) else set()


def section_irq(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "irq", ("default_cpus", "cpus", "policy"))
    default_cpus = cpus_option(cfg, "default_cpus", "irq", required=False)
    cpus = cpus_option(cfg, "cpus", "irq", required=False)
    policy = cfg.get("policy", "intersect")
    if policy not in ("intersect", "replace"):
        raise ConfigError("irq.policy must be intersect or replace")
    if default_cpus is not None and not default_cpus:
        raise ConfigError("irq.default_cpus is empty")
    if cpus is not None and not cpus:
        raise ConfigError("irq.cpus is empty")

    if default_cpus is not None:
        path = "/proc/irq/default_smp_affinity"
        text = ctx.read(path)
        if text is None:
            sec.error("%s is missing" % path)
        elif parse_mask(text) != default_cpus:
            sec.set_value(path, text, format_mask(default_cpus), compare=parse_mask)

    if cpus is None:
        return
    target = set(cpus)
    known_managed = _load_managed(ctx)
    managed = set()
    irqs = sorted(int(name) for name in ctx.listdir("/proc/irq") if name.isdigit())
    moved = 0
    for irq in irqs:
        path = "/proc/irq/%d/smp_affinity_list" % irq
        text = ctx.read(path)
        if text is None:
            continue
        try:
            current = set(parse_cpulist(text))
        except ValueError:
            sec.error("%s reads %r, not a cpulist" % (path, text))
            continue
        if current <= target:
            continue
        if ctx.check and irq in known_managed:
            managed.add(irq)
            continue
        inside = current & target
        new = sorted(inside) if (policy == "intersect" and inside) else sorted(target)
        after = format_cpulist(new)
        if ctx.check:
            sec.change(path, text, after)
            moved += 1
            continue
        try:
            ctx.write(path, after)
        except (IOError, OSError) as exc:
            if exc.errno == errno.EIO:
                # The kernel manages this IRQ's affinity (multi-queue devices);
                # isolcpus=managed_irq keeps it off the isolated CPUs.
                managed.add(irq)
            else:
                sec.error("%s: writing %r failed: %s" % (path, after, os.strerror(exc.errno or 0)))
            continue
        now = ctx.read(path)
        if now is None or set(parse_cpulist(now)) != set(new):
            sec.error("%s: wrote %r but it reads %r" % (path, after, now))
            continue
        sec.change(path, text, now)
        moved += 1
    if not ctx.check:
        ctx.save_state(MANAGED_STATE_FILE, "irqs", sorted(managed))
    sec.data["irqs_total"] = len(irqs)
    sec.data["irqs_moved"] = moved
    sec.data["managed_skipped"] = len(managed)
    sec.data["managed_irqs"] = sorted(managed)
    if managed:
        sec.notice("%d managed IRQ(s) keep their kernel-chosen affinity (isolcpus=managed_irq keeps "
                   "them off isolated CPUs): %s" % (len(managed), format_cpulist(managed)))


# ------------------------------------------------------------------ workqueue
def section_workqueue(sec, cfg):
    check_keys(cfg, "workqueue", ("cpus",))
    cpus = cpus_option(cfg, "cpus", "workqueue")
    if not cpus:
        raise ConfigError("workqueue.cpus is empty")
    path = "/sys/devices/virtual/workqueue/cpumask"
    text = sec.ctx.read(path)
    if text is None:
        sec.skip("%s does not exist on this kernel: unbound workqueues not restricted" % path)
        return
    if parse_mask(text) != cpus:
        sec.set_value(path, text, format_mask(cpus), compare=parse_mask)


# ------------------------------------------------------------------------ rps
def section_rps(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "rps", ("cpus", "include", "exclude"))
    cpus = cpus_option(cfg, "cpus", "rps")
    include = cfg.get("include", ["*"])
    exclude = cfg.get("exclude", ["lo"])
    for key, value in (("include", include), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError("rps.%s must be a list of interface name patterns" % key)
    queues = 0
    for name in ctx.listdir("/sys/class/net"):
        if not any(fnmatch.fnmatchcase(name, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in exclude):
            continue
        base = "/sys/class/net/%s/queues" % name
        for queue in ctx.listdir(base):
            if not queue.startswith("rx-"):
                continue
            path = "%s/%s/rps_cpus" % (base, queue)
            text = ctx.read(path)
            if text is None:
                continue
            queues += 1
            if parse_mask(text) != cpus:
                sec.set_value(path, text, format_mask(cpus), compare=parse_mask)
    sec.data["rx_queues"] = queues
    if not queues:
        sec.notice("no receive queue with rps_cpus found (no matching interface, or a kernel without RPS)")
