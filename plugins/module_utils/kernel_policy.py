# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a profile may ask of the kernel beyond the plan, and what it may not.

The plan is computed from the machine as it is: its online CPUs, SMT
siblings, memory and NUMA nodes.  ``kernel.extra_args`` and the ``sysctl``
map must not undo it.  The tables here are the one place that says which
kernel arguments and sysctls the plan owns and which are refused, each with
its reason; ``profile.py`` checks profiles against them and docs/profile.md
shows them (a unit test keeps the two in step).

- ``OWNED_ARGS``: kernel argument keys the plan writes (``plan.kernel_arg_keys``);
  the bootloader removes each one that the plan does not ask for.
- ``FORBIDDEN_ARGS``: kernel arguments refused in ``kernel.extra_args``, because
  they change the set of online CPUs, the memory or NUMA map the plan was
  computed from, or something the plan owns under another name.
- ``ARG_SYSCTLS``: kernel arguments that set a sysctl, so that asking for both
  with different values is refused.
- ``PLANNED_SYSCTL`` and ``OWNED_SYSCTLS``: the sysctls the plan sets or owns,
  refused in the ``sysctl`` map.

Keys are compared as the kernel compares parameter names (``-`` and ``_`` are
the same).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Dict, Optional, Tuple

from ansible_collections.bot4.hft.plugins.module_utils.node.sysctl import sysctl_name_problem

__all__ = [
    "OWNED_ARGS",
    "FORBIDDEN_ARGS",
    "ARG_SYSCTLS",
    "PLANNED_SYSCTL",
    "OWNED_SYSCTLS",
    "Refusal",
    "arg_key",
    "arg_value",
    "extra_arg_problem",
    "arg_sysctl",
    "sysctl_key",
    "sysctl_name_problem",
    "owned_sysctl_problem",
    "Setting",
    "PLAN_SETTINGS",
]

# Kernel argument keys the plan writes, each with the profile field that
# controls it (shown when kernel.extra_args tries to set one).
OWNED_ARGS: Dict[str, str] = {
    "isolcpus": "cpu.isolated and cpu.isolation",  # the isolated set and its flags
    "nohz": "cpu.isolated",  # nohz=on, needed by nohz_full
    "nohz_full": "cpu.isolated",  # no tick on the isolated CPUs
    "rcu_nocbs": "cpu.isolated",  # RCU callbacks off the isolated CPUs
    "irqaffinity": "cpu.reserved",  # default IRQ affinity at boot
    "systemd.cpu_affinity": "cpu.reserved",  # PID 1 and its services at boot
    "rcupdate.rcu_normal_after_boot": "cpu.isolated",  # no expedited grace periods (IPIs) after boot
    "intel_iommu": "kernel.iommu and dpdk.driver",  # VT-d on for vfio-pci
    "amd_iommu": "kernel.iommu and dpdk.driver",  # AMD-Vi (only ever removed: it has no "on")
    "iommu": "kernel.iommu and dpdk.driver",  # iommu=pt: passthrough for the host's own devices
    "default_hugepagesz": "hugepages.default_size",  # the size mounted at /dev/hugepages
    "hugepagesz": "hugepages.pages",  # each planned page size
    "hugepages": "hugepages.pages",  # each planned pool, per node or in total
    "transparent_hugepage": "kernel.thp",  # THP mode from boot on
    "nosoftlockup": "kernel.nosoftlockup",  # no soft lockup detector on the isolated CPUs
    "nmi_watchdog": "kernel.nmi_watchdog",  # no NMI (hard lockup) watchdog
    "skew_tick": "kernel.skew_tick",  # ticks offset per CPU
    "tsc": "kernel.tsc_reliable",  # tsc=reliable: no clocksource watchdog
    "mce": "kernel.mce_ignore_ce",  # mce=ignore_ce: no corrected-error polling timer or CMCI on any CPU
    "intel_idle.max_cstate": "power.max_cstate",  # deepest C-state, intel_idle
    "processor.max_cstate": "power.max_cstate",  # deepest C-state, ACPI idle
    "idle": "power.idle_poll",  # idle=poll
    "intel_pstate": "power.pstate",  # intel_pstate mode
    "amd_pstate": "power.pstate",  # amd_pstate mode
    "nosmt": "cpu.smt",  # SMT siblings offline (cpu.smt: disabled)
}

# A refused kernel argument: ``reason`` says what it would undo; ``field`` is
# the profile field to use instead, if any; ``values``: refused only when a
# comma-separated part of its value is one of these (empty: any value).
Refusal = namedtuple("Refusal", "reason field values")

_CPUS = "changes the set of online CPUs the plan was computed from"
_MEMORY = "changes the memory map the hugepage pools were planned in"
_NUMA = "changes the NUMA map the plan was computed from"
_SMT = "turns SMT off%s"

FORBIDDEN_ARGS: Dict[str, Refusal] = {
    # -- the set of online CPUs
    # at most N CPUs brought up at boot: the planned isolated CPUs above N stay offline
    "maxcpus": Refusal(_CPUS + " (only the first CPUs come up)", None, ()),
    # at most N possible CPUs: the others can never come online
    "nr_cpus": Refusal(_CPUS + " (CPUs above the limit do not exist)", None, ()),
    # overrides the number of possible CPUs (x86): the same, and more per-CPU memory
    "possible_cpus": Refusal(_CPUS + " (it overrides the possible CPUs)", None, ()),
    # no SMP at all: one CPU, nothing left to isolate
    "nosmp": Refusal(_CPUS + " (only the boot CPU comes up)", None, ()),
    # a CPU by APIC id left out at boot (x86)
    "disable_cpu_apicid": Refusal(_CPUS + " (a CPU is left out at boot)", None, ()),
    # no local APIC: the kernel cannot start the other CPUs (x86)
    "nolapic": Refusal(_CPUS + " (without the local APIC only the boot CPU comes up)", None, ()),
    # the same, by its x86-64 name
    "disableapic": Refusal(_CPUS + " (without the local APIC only the boot CPU comes up)", None, ()),
    # acpi=off: the CPUs come from the MADT and the NUMA nodes from the SRAT, both ACPI tables
    "acpi": Refusal(_CPUS + " and the NUMA map (the CPU and memory tables are ACPI's)", None, ("off",)),
    # -- SMT, owned by cpu.smt
    # threads per core (s390, MIPS; x86 takes nosmt): secondary threads offline
    "smt": Refusal(_SMT % "", "cpu.smt", ()),
    # the historical x86 switch for Hyper-Threading
    "noht": Refusal(_SMT % "", "cpu.smt", ()),
    # mitigations=auto,nosmt and the like turn SMT off when the CPU is affected
    "mitigations": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("nosmt",)),
    # l1tf=full and full,force turn SMT off; flush,nosmt too
    "l1tf": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("full", "nosmt")),
    # mds=full,nosmt, tsx_async_abort=full,nosmt, mmio_stale_data=full,nosmt and
    # retbleed=auto,nosmt: SMT off on affected CPUs
    "mds": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("nosmt",)),
    "tsx_async_abort": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("nosmt",)),  # see mds
    "mmio_stale_data": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("nosmt",)),  # see mds
    "retbleed": Refusal(_SMT % " on affected CPUs", "cpu.smt", ("nosmt",)),  # see mds
    # -- the memory map
    # usable memory capped: a node may no longer hold its planned pools
    "mem": Refusal(_MEMORY + " (it caps usable memory)", None, ()),
    # regions marked reserved, persistent or usable by hand
    "memmap": Refusal(_MEMORY + " (it reserves or adds memory regions)", None, ()),
    # high memory size (32-bit)
    "highmem": Refusal(_MEMORY + " (it sizes high memory)", None, ()),
    # ZONE_MOVABLE sized by hand: pinned memory (vfio, DPDK) and runtime pools cannot count on it
    "kernelcore": Refusal(_MEMORY + " (it sizes ZONE_MOVABLE)", None, ()),
    # the same, as a size or a share of memory
    "movablecore": Refusal(_MEMORY + " (it sizes ZONE_MOVABLE)", None, ()),
    # hot-pluggable nodes entirely movable: the same, for whole nodes
    "movable_node": Refusal(_MEMORY + " (whole nodes become ZONE_MOVABLE)", None, ()),
    # memory set aside for gigantic pages by CMA: hugepages.pages plans the pools
    "hugetlb_cma": Refusal(_MEMORY + " (it reserves CMA memory for hugepages)", "hugepages.pages", ()),
    # -- the NUMA map
    # numa=off: one node; numa=fake=N: invented nodes; numa=noacpi: the SRAT ignored
    "numa": Refusal(_NUMA, None, ()),
    # NUMA balancing migrates pages under pinned memory; the plan turns it off (sysctl)
    "numa_balancing": Refusal("switches NUMA balancing, which the plan turns off (sysctl kernel.numa_balancing=0)", None, ()),
    # -- what the plan owns under other names
    # the cgroup cpuset and memory controllers: the kubelet's CPU and memory managers and the
    # housekeeping's confined slices use them; hugetlb: the kubelet's hugepage accounting
    "cgroup_disable": Refusal("disables a cgroup controller that the kubelet and the housekeeping need",
                              None, ("cpuset", "memory", "hugetlb")),
    # systemd back on the legacy (v1) or hybrid cgroup hierarchy: the confined slices' cpusets
    # (AllowedCPUs=) and their verification are cgroup v2 files, and the kubelet's managers are
    # planned on the unified hierarchy
    "systemd.unified_cgroup_hierarchy": Refusal(
        "puts systemd on the legacy cgroup hierarchy; the slices' cpusets and the kubelet are planned on cgroup v2",
        None, ("0", "false", "no", "off", "n")),
    # the same, with the unified hierarchy kept only for systemd's own use
    "systemd.legacy_systemd_cgroup_controller": Refusal(
        "puts systemd on the legacy cgroup hierarchy; the slices' cpusets and the kubelet are planned on cgroup v2",
        None, ()),
    # kernel threads confined to a CPU list: the plan keeps them on cpu.reserved
    "kthread_cpus": Refusal("places kernel threads, which the plan keeps on the reserved CPUs", "cpu.reserved", ()),
    # unbound workqueues confined at boot: the plan keeps them on cpu.reserved
    "workqueue.unbound_cpus": Refusal("places unbound workqueues, which the plan keeps on the reserved CPUs",
                                      "cpu.reserved", ()),
    # both lockup detectors off at once: kernel.nosoftlockup and kernel.nmi_watchdog say which
    "nowatchdog": Refusal("turns off the lockup detectors, which the profile owns",
                          "kernel.nosoftlockup and kernel.nmi_watchdog", ()),
    # no cpuidle at all: power.max_cstate and power.idle_poll own idle states
    "cpuidle.off": Refusal("turns cpuidle off, which the profile owns", "power.max_cstate and power.idle_poll", ()),
    # the boot-time cpufreq governor: power.governor is applied at runtime
    "cpufreq.default_governor": Refusal("sets the cpufreq governor, which the profile owns", "power.governor", ()),
    # iommu.passthrough=0/1 contradicts or repeats the planned iommu=pt
    "iommu.passthrough": Refusal("sets IOMMU passthrough, which the plan owns (iommu=pt)", "kernel.iommu", ()),
    # vfio's no-IOMMU mode: dpdk.allow_noiommu owns it
    "vfio.enable_unsafe_noiommu_mode": Refusal("sets vfio's unsafe no-IOMMU mode, which the profile owns",
                                               "dpdk.allow_noiommu", ()),
}

# Kernel arguments that set a sysctl (besides sysctl.<name>=, Linux 5.8):
# with a different value for that sysctl in the sysctl map they contradict.
ARG_SYSCTLS: Dict[str, str] = {
    "panic": "kernel.panic",  # seconds before reboot on panic
    "panic_on_warn": "kernel.panic_on_warn",  # panic at the first warning
    "softlockup_panic": "kernel.softlockup_panic",  # panic on a soft lockup
    "hung_task_panic": "kernel.hung_task_panic",  # panic on a hung task
    "unknown_nmi_panic": "kernel.unknown_nmi_panic",  # panic on an unknown NMI
    "softlockup_all_cpu_backtrace": "kernel.softlockup_all_cpu_backtrace",  # backtraces of every CPU
    "hardlockup_all_cpu_backtrace": "kernel.hardlockup_all_cpu_backtrace",  # the same, hard lockups
    "printk.devkmsg": "kernel.printk_devkmsg",  # /dev/kmsg writes: on, off or ratelimit
}

# Sysctls the plan sets on every node (a profile does not change them).
PLANNED_SYSCTL: Dict[str, str] = {
    "kernel.numa_balancing": "0",  # no page migration under pinned memory
    # 1, as the Node Tuning Operator sets it: an unpinned timer armed on an
    # isolated CPU (a TCP keep-alive or retransmit timer of a pinned process)
    # moves to a housekeeping CPU (get_nohz_timer_target() through
    # get_target_base(), timer.c and hrtimer.c) only when migration is on;
    # with 0 it stays, and fires, on the isolated CPU.
    "kernel.timer_migration": "1",
    "vm.stat_interval": "10",  # vmstat work every 10 s instead of 1 s
    # Busy-polling isolated threads never trip it, but a housekeeping task in D
    # state for 2 min (the default) should not produce a stack dump storm.
    "kernel.hung_task_timeout_secs": "600",
}

# Sysctls refused in the sysctl map, with the profile field that owns each
# (or None where the plan fixes it) and why.
OWNED_SYSCTLS: Dict[str, Tuple[Optional[str], str]] = {
    # the pools: a total here overrides the per-node pools of the plan
    "vm.nr_hugepages": ("hugepages.pages", "sets the default-size hugepage pool"),
    # the same, spread by the writer's NUMA memory policy
    "vm.nr_hugepages_mempolicy": ("hugepages.pages", "sets the default-size hugepage pool"),
    # surplus pages beyond the pools
    "vm.nr_overcommit_hugepages": ("hugepages.pages", "sizes the surplus hugepage pool"),
    # written by the applier before it allocates pools (hugepages section)
    "vm.compact_memory": ("hugepages.pages", "is written by the applier before it allocates the pools"),
    # the same (drops the page cache)
    "vm.drop_caches": ("hugepages.pages", "is written by the applier before it allocates the pools"),
    # the NMI watchdog, also switched by nmi_watchdog= on the command line
    "kernel.nmi_watchdog": ("kernel.nmi_watchdog", "switches the NMI watchdog"),
    # both lockup detectors at once
    "kernel.watchdog": ("kernel.nosoftlockup and kernel.nmi_watchdog", "switches the lockup detectors"),
    # the soft lockup detector (nosoftlockup on the command line)
    "kernel.soft_watchdog": ("kernel.nosoftlockup", "switches the soft lockup detector"),
    # the CPUs the detectors run on: nohz_full keeps them off the isolated CPUs
    "kernel.watchdog_cpumask": ("cpu.isolated", "places the lockup detectors (nohz_full keeps them off the "
                                                "isolated CPUs)"),
    # the detectors' period: re-arms them on every CPU they run on
    "kernel.watchdog_thresh": ("kernel.nosoftlockup and kernel.nmi_watchdog", "re-arms the lockup detectors"),
    # RT throttling: -1 (none) with kernel.realtime_scheduling, the kernel's 950000 without
    "kernel.sched_rt_runtime_us": ("kernel.realtime_scheduling", "sets the real-time throttling"),
    # RPS for new devices (Linux 6.2): the housekeeping sets each device's mask
    "net.core.rps_default_mask": ("housekeeping.rps_include", "sets the RPS mask of new devices"),
}
for _name, _value in PLANNED_SYSCTL.items():
    OWNED_SYSCTLS[_name] = (None, "is set to %s on every node by the plan; it is not a profile setting" % _value)


def arg_key(arg: str) -> str:
    """Key of a kernel argument, normalised like the kernel compares
    parameter names (``-`` and ``_`` are the same)."""
    return arg.split("=", 1)[0].replace("-", "_")


def arg_value(arg: str) -> Optional[str]:
    """The value of ``key=value``; None for a bare flag."""
    return arg.split("=", 1)[1] if "=" in arg else None


def _use(field: Optional[str]) -> str:
    return "; use hft_profile.%s instead" % field if field else ""


def extra_arg_problem(arg: str) -> Optional[str]:
    """Why ``arg`` cannot be in kernel.extra_args (the whole reason), or None."""
    key = arg_key(arg)
    if key in OWNED_ARGS:
        return "%r sets %s, which the collection owns; use hft_profile.%s instead" % (arg, key, OWNED_ARGS[key])
    rule = FORBIDDEN_ARGS.get(key)
    if rule is not None:
        parts = [p.strip() for p in (arg_value(arg) or "").split(",")]
        if not rule.values or any(p in rule.values for p in parts):
            return "%r %s%s" % (arg, rule.reason, _use(rule.field))
    sysctl = arg_sysctl(arg)
    if sysctl is not None and key.startswith("sysctl."):
        name, value = sysctl
        problem = sysctl_name_problem(name)
        if problem is not None:
            return "%r: %r %s" % (arg, name, problem)
        owned = owned_sysctl_problem(name)
        if owned is not None:
            return "%r: %s %s" % (arg, name, owned)
        if value == "":
            return "%r sets the sysctl %s to an empty value" % (arg, name)
    return None


def arg_sysctl(arg: str) -> Optional[Tuple[str, str]]:
    """(sysctl name, value) that a kernel argument sets, or None."""
    key = arg_key(arg)
    value = arg_value(arg)
    if arg.startswith("sysctl."):
        # The kernel turns every dot of the name into a slash (process_sysctl_arg),
        # slashes or not: sysctl.net/ipv4/conf/eth0.100/x opens .../eth0/100/x.
        name = arg.split("=", 1)[0][len("sysctl."):]
        return (name.replace(".", "/") if "/" in name else name), value if value is not None else ""
    if key in ARG_SYSCTLS:
        # a bare flag (panic_on_warn) is 1
        return ARG_SYSCTLS[key], value if value is not None else "1"
    return None


def sysctl_key(name: str) -> str:
    """The file below /proc/sys that a checked name stands for: two spellings
    of one sysctl (vm.swappiness and vm/swappiness) give the same key."""
    return name if "/" in name else name.replace(".", "/")


_OWNED_SYSCTL_KEYS = dict((sysctl_key(name), name) for name in OWNED_SYSCTLS)


def owned_sysctl_problem(name: str) -> Optional[str]:
    """Why the plan owns the sysctl ``name`` (a reason to follow the name), or None."""
    owned = _OWNED_SYSCTL_KEYS.get(sysctl_key(name))
    if owned is None:
        return None
    field, why = OWNED_SYSCTLS[owned]
    if field is None:
        return why
    return "%s, which the plan owns; use hft_profile.%s instead" % (why, field)


# Every kernel argument, sysctl and runtime setting the plan produces, with
# our default, what OpenShift's Node Tuning Operator (its performance profile
# rendered through TuneD) does for the same, and why ours.  docs/profile.md
# shows it (a unit test keeps the two in step, and checks that every setting
# of a plan has its entry).  ``kind``: ``argument`` (a kernel argument key),
# ``sysctl``, ``runtime`` (``runtime.<section>``: a section of plan.runtime,
# by the node applier) or ``node`` (a role's change, from another plan field).
Setting = namedtuple("Setting", "kind ours operator why")

# The operator column was checked against cluster-node-tuning-operator's main
# branch as of the OpenShift 4.18+ layout (per-vendor TuneD profiles):
# assets/performanceprofile/tuned/openshift-node-performance, its -intel-x86,
# -amd-x86 and -rt profiles, the rendered cases in
# test/e2e/performanceprofile/testdata/render-expected-output/default/
# (manual_tuned.yaml, manual_machineconfig.yaml, cpuFrequency/manual_tuned.yaml),
# pkg/performanceprofile/controller/performanceprofile/components/{tuned,
# machineconfig,profile}/ and docs/performanceprofile/configuration_hotfixes.md;
# and against the TuneD profiles that profile includes (profiles/openshift,
# cpu-partitioning, network-latency, latency-performance; profiles/functions)
# and TuneD's scheduler, vm and cpu plugins.  "The real-time hint", "the
# high-power hint" and "per-pod power" are the profile's workloadHints
# realTime, highPowerConsumption and perPodPowerManagement.

PLAN_SETTINGS: Dict[str, Setting] = {
    # -- kernel arguments
    "isolcpus": Setting("argument", "`managed_irq,domain,<isolated>` (`managed_irq,<isolated>` when balanced)",
                        "`managed_irq,<isolated>`, `domain` too when `balanceIsolated: false`",
                        "managed IRQs and, for static isolation, the scheduler's load balancing off the isolated CPUs"),
    "nohz": Setting("argument", "`on`", "`on`", "needed by `nohz_full`"),
    "nohz_full": Setting("argument", "the isolated CPUs", "the isolated CPUs, with the real-time hint",
                         "no scheduler tick while one task runs"),
    "rcu_nocbs": Setting("argument", "the isolated CPUs", "the isolated CPUs",
                         "RCU callbacks run on the reserved CPUs"),
    "irqaffinity": Setting("argument", "the reserved CPUs", "not set",
                           "IRQs requested during boot start on the reserved CPUs"),
    "systemd.cpu_affinity": Setting("argument", "the reserved CPUs", "the reserved CPUs",
                                    "PID 1 and every service it starts on the reserved CPUs from boot"),
    "rcupdate.rcu_normal_after_boot": Setting("argument", "`1`", "`1` (TuneD's network-latency profile)",
                                              "no expedited grace periods (IPIs to every CPU) after boot"),
    "intel_iommu": Setting("argument", "`on` when DPDK uses vfio-pci and the firmware has VT-d", "`on` (Intel)",
                           "vfio-pci needs the IOMMU; nodes without DPDK keep the kernel's default"),
    "amd_iommu": Setting("argument", "never set (only removed)", "not set", "AMD-Vi has no `on`; it is on by default"),
    "iommu": Setting("argument", "`pt` with `intel_iommu=on` or on AMD with DPDK", "`pt` (x86)",
                     "no IOMMU translation for the host's own devices"),
    "default_hugepagesz": Setting("argument", "`hugepages.default_size`", "`hugepages.defaultHugepagesSize`",
                                  "the size mounted at /dev/hugepages"),
    "hugepagesz": Setting("argument", "each planned size", "each size of pages without a `node`", "boot-time pools"),
    "hugepages": Setting("argument", "per node (`N:count`) from kernel 5.16, else total",
                         "count per size of pages without a `node`",
                         "pools on the NUMA node the profile names, allocated before memory fragments"),
    "transparent_hugepage": Setting("argument", "`never`", "not set (TuneD's vm plugin writes `never` at run time)",
                                    "no khugepaged scans or compaction stalls"),
    "nosoftlockup": Setting("argument", "set", "with the real-time hint",
                            "no soft lockup detector timer on the isolated CPUs"),
    "nmi_watchdog": Setting("argument", "`0`", "`0` with the real-time hint (x86)",
                            "no NMI every few seconds on every CPU"),
    "skew_tick": Setting("argument", "`1`", "`1` (TuneD's network-latency; the real-time hint too)",
                         "ticks of the CPUs offset: no jiffies lock contention"),
    "tsc": Setting("argument", "`reliable` (x86)",
                   "`reliable` (TuneD's network-latency; the real-time hint on x86 too)",
                   "no clocksource watchdog timer"),
    "mce": Setting("argument", "`ignore_ce` (x86; `kernel.mce_ignore_ce`)",
                   "`off` with the real-time hint (x86); `ignore_ce` also set in sysfs",
                   "no polling timer or CMCI for corrected errors; uncorrected ones are still handled"),
    "intel_idle.max_cstate": Setting("argument", "`power.max_cstate` (1)", "`0` with the high-power hint (Intel)",
                                     "no deep C-state exit latency"),
    "processor.max_cstate": Setting("argument", "`power.max_cstate` (1)", "`1` with the high-power hint (x86)",
                                    "the same for ACPI idle"),
    "idle": Setting("argument", "`poll` only with `power.idle_poll`",
                    "`poll` with the high-power and real-time hints together (x86)",
                    "no idle states at all, at the cost of power and SMT siblings' throughput"),
    "intel_pstate": Setting("argument", "`power.pstate` (`passive`)",
                            "`passive` with per-pod power, `active` with `hardwareTuning`, "
                            "else `active` from Ice Lake on, `disable` before",
                            "the governor decides the frequency (`performance`)"),
    "amd_pstate": Setting("argument", "`power.pstate`",
                          "`passive` with per-pod power, `active` with `hardwareTuning`, else `guided`",
                          "the same on AMD"),
    "nosmt": Setting("argument", "only with `cpu.smt: disabled`", "not set (`cpu.offlined` instead)",
                     "SMT siblings share a core's caches and execution units"),
    # -- sysctls
    "kernel.numa_balancing": Setting("sysctl", "`0`", "`0` (TuneD's network-latency; dropped on the RT kernel)",
                                     "no page migration under pinned memory"),
    "kernel.timer_migration": Setting("sysctl", "`1`", "`1` (over cpu-partitioning's `0`)",
                                      "unpinned timers armed on an isolated CPU move to a housekeeping CPU"),
    "vm.stat_interval": Setting("sysctl", "`10`", "`10` (TuneD's cpu-partitioning)",
                                "vmstat work every 10 s instead of every second"),
    "kernel.hung_task_timeout_secs": Setting("sysctl", "`600`", "`600` (TuneD's cpu-partitioning)",
                                             "no stack dump storms from a housekeeping task stuck for 2 minutes"),
    "kernel.nmi_watchdog": Setting("sysctl", "`0` (`kernel.nmi_watchdog: false`)", "`0` (TuneD's cpu-partitioning)",
                                   "the NMI watchdog stays off after boot"),
    "kernel.sched_rt_runtime_us": Setting("sysctl", "`-1` with `kernel.realtime_scheduling`",
                                          "`-1` with the real-time workload hint",
                                          "no RT throttling of SCHED_FIFO busy-poll threads"),
    # -- runtime sections (the node applier, at every boot and in every tuning run)
    "runtime.cpu_offline": Setting("runtime", "`cpu.offline` (none)", "`cpu.offlined`, by a boot unit",
                                   "unused CPUs or siblings of the hottest cores offline"),
    "runtime.hugepages": Setting("runtime", "pools read back, the short ones retried",
                                 "pages with a `node` by a boot unit, retried for 60 s",
                                 "a pool the kernel could not fill at boot is filled or named"),
    "runtime.dpdk": Setting("runtime", "devices bound to vfio-pci or uio_pci_generic", "not done (the SR-IOV operator)",
                            "DPDK's NICs bound before the kubelet starts"),
    "runtime.sysctl": Setting("runtime", "the planned sysctls", "TuneD's sysctl plugin", "set now and at every boot"),
    "runtime.thp": Setting("runtime", "`enabled` and `defrag` as planned", "`enabled` = `never` (TuneD's vm plugin)",
                           "the same after boot"),
    "runtime.ksm": Setting("runtime", "`run` = 0 where the kernel has KSM",
                           "ksm and ksmtuned masked, pages unmerged (cpu-partitioning's script)",
                           "no ksmd scanning, no copy-on-write faults on merged pages"),
    "runtime.irq": Setting("runtime", "every movable IRQ and the default affinity on the reserved CPUs",
                           "off annotated pods' CPUs (CRI-O); off every isolated CPU (TuneD) only with "
                           "`globallyDisableIrqLoadBalancing`",
                           "stricter: no IRQ on any isolated CPU, not only on pinned pods' CPUs"),
    "runtime.workqueue": Setting("runtime", "unbound workqueues' cpumask, global and per workqueue",
                                 "global, per-workqueue and writeback cpumasks (cpu-partitioning)",
                                 "kworkers of unbound work stay on the reserved CPUs"),
    "runtime.kthread": Setting("runtime", "movable kernel threads on the reserved CPUs",
                               "TuneD's scheduler plugin (`isolated_cores`), once", "as `tuna --isolate`"),
    "runtime.sweep": Setting("runtime", "running user-space threads on the reserved CPUs, once per run",
                             "TuneD's scheduler plugin, once, sparing `ps_blacklist` and `/kubepods.slice/`",
                             "threads started before tuning leave the isolated CPUs; pods and the deny list stay"),
    "runtime.rps": Setting("runtime", "every interface's receive queues on the reserved CPUs",
                           "off unless annotated `enable-rps` (then the reserved CPUs; physical NICs only "
                           "with `enable-physical-dev-rps`)",
                           "receive processing off the isolated CPUs"),
    "runtime.cpufreq": Setting("runtime", "`power.governor` (`performance`)",
                               "`performance` (TuneD's cpu plugin) unless per-pod power",
                               "no frequency ramp-up latency"),
    "runtime.cpuidle": Setting("runtime", "PM QoS resume latency of the isolated CPUs",
                               "`cpu_dma_latency` at C1's latency (TuneD's `force_latency`); "
                               "per pod (CRI-O) with per-pod power",
                               "the C-state limit holds after boot"),
    "runtime.energy_perf_bias": Setting("runtime", "`power.energy_perf_bias` (`performance`)",
                                        "`performance` unless per-pod power",
                                        "the hardware favours performance"),
    "runtime.epp": Setting("runtime", "`power.energy_performance_preference` (`performance`) where exposed",
                           "not set (the `performance` governor implies it in active mode)",
                           "HWP picks the highest P-states (active mode)"),
    "runtime.min_perf_pct": Setting("runtime", "`power.min_perf_pct` (left alone)",
                                    "`100` unless per-pod power",
                                    "intel_pstate's floor; 100 keeps every CPU at its highest P-state"),
    # -- other plan fields, by the roles
    "disabled_units": Setting("node", "`fwupd-refresh.timer` stopped and disabled", "not done",
                              "fwupd's firmware calls can raise SMIs, latency spikes on every CPU"),
    "realtime_scheduling.stalld": Setting("node", "stalld with `kernel.realtime_scheduling`, where packaged",
                                          "stalld with the real-time workload hint",
                                          "kernel threads starved by a busy-polling RT thread are boosted"),
}
