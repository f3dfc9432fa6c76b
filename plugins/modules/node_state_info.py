#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_state_info
short_description: Read the live state of a bot4.hft node in one pass
version_added: "0.1.0"
description:
  - Reads what the node's plan is compared with, in one pass, and changes nothing.
  - The running kernel's arguments (C(/proc/cmdline), tokenised as the kernel does), its isolated and C(nohz_full)
    CPU sets.
  - The runtime applier (C(bot4-hft-runtime)), its configuration (C(/etc/bot4-hft/runtime.d)) and what it would
    change on the node now (every section in check mode, the same code as M(bot4.hft.node_state)), and its boot
    unit's state.
  - The CPU affinity of PID 1 and of every user-space process outside the kubelet's pods, and the effective
    cpusets of the slices confined to the reserved CPUs.
  - With O(kernel_args), what the bootloader configuration would need changed to carry those arguments, as
    M(bot4.hft.kernel_cmdline) in check mode finds it (the same code), and whether the running kernel carries them.
  - With O(kubelet), the kubelet - its binary, version, flags, unit state, CPU and memory manager checkpoints, and
    its KubeletConfiguration file and drop-ins (as text; they are parsed where they are compared).
  - The record of the node's last complete tuning run (O(record)), and the running boot's id, which tells whether
    the node has booted since a run recorded a pending reboot.
  - The filter P(bot4.hft.node_differences#filter) compares the result with the plan; the filter
    P(bot4.hft.kubelet_settings#filter) gives the kubelet settings the plan wants.
author:
  - Bot4 platform team (@bot4-platform)
options:
  parts:
    description:
      - What to read. V(kernel) - the running kernel's arguments, its isolated sets and, with O(kernel_args), the
        bootloader. V(runtime) - the applier and its boot unit. V(affinity) - process and slice affinities.
        V(kubelet) - the kubelet, with O(kubelet).
      - The record (O(record)) and the boot id are always read.
    type: list
    elements: str
    choices: [kernel, runtime, affinity, kubelet]
    default: [kernel, runtime, affinity, kubelet]
  kernel_args:
    description:
      - The kernel arguments the bootloader must carry, to read the bootloader against (RV(state.bootloader)).
        Not given - the bootloader is not read.
      - The bootloader settings (backend, C(grub.cfg), C(grubenv)) are the node's OS family's, as for
        M(bot4.hft.kernel_cmdline).
    type: dict
    suboptions:
      args:
        description: The owned kernel arguments, in order (O(bot4.hft.kernel_cmdline#module:args)).
        type: list
        elements: str
        default: []
      owned_keys:
        description: The keys the collection owns (O(bot4.hft.kernel_cmdline#module:owned_keys)).
        type: list
        elements: str
        default: []
      backend:
        description: O(bot4.hft.kernel_cmdline#module:backend).
        type: str
        choices: [auto, grub_dropin, grubby]
        default: auto
      conflicts:
        description:
          - An owned key set outside the collection's control - V(fail) fails this module naming it, as
            M(bot4.hft.kernel_cmdline) does; V(warn) warns and lists it in RV(state.bootloader.conflicts).
        type: str
        choices: [fail, warn]
        default: fail
      dropin_path:
        description: The collection's GRUB drop-in (O(bot4.hft.kernel_cmdline#module:dropin_path)).
        type: path
        default: /etc/default/grub.d/90-bot4-hft.cfg
      kernel:
        description: The kind of kernel the bootloader must boot (O(bot4.hft.kernel_cmdline#module:kernel)).
        type: str
        choices: [any, realtime, generic]
        default: any
      grub_probe_command:
        description: O(bot4.hft.kernel_cmdline#module:grub_probe_command).
        type: list
        elements: str
        default: [grub-probe, --target=fs_uuid, /]
  kubelet:
    description:
      - Where the kubelet is, to read it (RV(state.kubelet)). Not given - the kubelet is not read.
      - The same settings as the C(bot4.hft.kubelet) role's C(kubelet_*) variables.
    type: dict
    suboptions:
      service:
        description: The kubelet's systemd unit.
        type: str
        default: kubelet
      root_dir:
        description: The kubelet's root directory (where its checkpoints are).
        type: path
        default: /var/lib/kubelet
      config_file:
        description: The KubeletConfiguration file; V(auto) - the running kubelet's C(--config), else O(kubelet.default_config_file).
        type: str
        default: auto
      config_dir:
        description: The kubelet's drop-in directory; V(auto) - the running kubelet's C(--config-dir), else none; V(none) - none.
        type: str
        default: auto
      default_config_file:
        description: The KubeletConfiguration file of a kubelet that is not running, with O(kubelet.config_file=auto).
        type: path
        default: /var/lib/kubelet/config.yaml
      strict_cpu_reservation:
        description:
          - Whether the C(strict-cpu-reservation) CPU manager option applies; V(auto) - where the kubelet has it
            without a feature gate (1.33 and later). Resolved against the version read (RV(state.kubelet)).
        type: str
        choices: [auto, "true", "false"]
        default: auto
  record:
    description: The record of the node's last complete tuning run (RV(state.record)).
    type: path
    default: /etc/bot4-hft/tuned.json
  slices:
    description:
      - systemd slices whose C(cpuset.cpus.effective) is read (C(/sys/fs/cgroup/<slice>/cpuset.cpus.effective)).
    type: list
    elements: str
    default: [system.slice, user.slice]
  root:
    description:
      - Directory where the node's root filesystem is seen; for tests. The units' state and the kubelet's version are
        read only when it is C(/).
    type: path
    default: /
  config_dir:
    description: The applier's configuration directory.
    type: path
    default: /etc/bot4-hft/runtime.d
  applier:
    description: The applier's command, run by the boot unit.
    type: path
    default: /usr/local/sbin/bot4-hft-runtime
  unit:
    description: The applier's boot unit.
    type: str
    default: bot4-hft-runtime.service
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module changes nothing.
seealso:
  - module: bot4.hft.node_state
  - module: bot4.hft.node_plan_info
"""

EXAMPLES = r"""
- name: Read the node
  bot4.hft.node_state_info:
  register: __hft_register_state

- name: Read the node, its bootloader against the planned arguments, and its kubelet
  bot4.hft.node_state_info:
    kernel_args:
      args: "{{ hft_plan.kernel_args }}"
      owned_keys: "{{ hft_plan.kernel_arg_keys }}"
    kubelet: {}
  register: __hft_register_state

- name: Read the kubelet only
  bot4.hft.node_state_info:
    parts: [kubelet]
    kubelet:
      config_dir: none
  register: __hft_register_kubelet

- name: Compare it with the plan
  ansible.builtin.debug:
    msg: "{{ hft_plan | bot4.hft.node_differences(__hft_register_state.state) }}"
"""

RETURN = r"""
state:
  description: The node's live state.
  returned: always
  type: dict
  contains:
    cmdline:
      description: The running kernel's arguments, one token each (before C(--)).
      type: list
      elements: str
    isolated:
      description: C(/sys/devices/system/cpu/isolated).
      type: str
    nohz_full:
      description: C(/sys/devices/system/cpu/nohz_full).
      type: str
    offline:
      description: C(/sys/devices/system/cpu/offline) (the plan's C(cpu.offline_planned) must be in it).
      type: str
    kernel:
      description:
        - The running kernel - C(release) (C(uname -r), C(/proc/sys/kernel/osrelease)), C(version) (C(uname -v),
          C(/proc/sys/kernel/version)) and C(realtime) (the version says C(PREEMPT_RT)).
      type: dict
    runtime:
      description:
        - C(installed) (the applier's command is there), C(config) (its configuration, per section, or null),
          C(report) (what it would change, as M(bot4.hft.node_state) reports it, or null) and C(error).
      type: dict
    unit:
      description: The boot unit's C(UnitFileState) and C(Result) (empty when not read).
      type: dict
    affinity:
      description: C(pid1) (a cpulist), C(slices) (slice to cpulist) and C(processes) (C(pid), C(comm), C(cpus), C(cgroup)).
      type: dict
    bootloader:
      description:
        - What M(bot4.hft.kernel_cmdline) in check mode returns for O(kernel_args), without C(changed). Null when the
          bootloader is not read (no O(kernel_args), or V(kernel) not in O(parts)).
      type: dict
      contains:
        actions:
          description: What the bootloader configuration needs changed to carry the arguments; empty when it does.
          type: list
          elements: str
        reboot_required:
          description: The running kernel's owned arguments are not the arguments.
          type: bool
        running_missing:
          description: Arguments the running kernel lacks.
          type: list
          elements: str
        running_unexpected:
          description: Owned arguments the running kernel still has.
          type: list
          elements: str
        args_after:
          description: The owned arguments the next boot carries once the actions are taken.
          type: list
          elements: str
        backend:
          description: V(grub_dropin) or V(grubby).
          type: str
        conflicts:
          description: Owned arguments set outside the collection's control (with O(kernel_args.conflicts=warn)).
          type: list
          elements: dict
    kubelet:
      description:
        - The kubelet. Null when it is not read (no O(kubelet), or V(kubelet) not in O(parts)).
      type: dict
      contains:
        installed:
          description: A kubelet binary is there (the unit's process, C(PATH), C(/usr/local/bin), C(/usr/bin)).
          type: bool
        running:
          description: The unit has a main process.
          type: bool
        binary:
          description: The kubelet binary.
          type: str
        version:
          description: Its version (C(1.33.1)), or null.
          type: str
        version_tuple:
          description: The same as three integers.
          type: list
          elements: int
        flags:
          description: The running kubelet's C(--config), C(--config-dir), C(--hostname-override) and C(--root-dir).
          type: dict
        active:
          description: The unit's C(ActiveState).
          type: str
        restarts:
          description: The unit's C(NRestarts) (automatic restarts).
          type: int
        hostname:
          description: The node's host name, in lower case.
          type: str
        node_name:
          description: The node's name as the kubelet registers it (C(--hostname-override), else the host name).
          type: str
        cpu_manager_state:
          description: The CPU manager's checkpoint - C(present), and C(policyName) or C(error).
          type: dict
        memory_manager_state:
          description: The memory manager's checkpoint - C(present), and C(policyName) or C(error).
          type: dict
        strict_cpu_reservation:
          description: Whether the C(strict-cpu-reservation) option applies (O(kubelet.strict_cpu_reservation) resolved).
          type: bool
        config:
          description:
            - The KubeletConfiguration - C(file) and C(dir) (the drop-in directory, empty for none), C(documents)
              (C(path) and C(text) of the file, then of each C(*.conf) drop-in in name order; read only when the
              kubelet is installed) and C(error) (why one could not be read, else null).
          type: dict
    record:
      description:
        - The content of O(record) (C(plan_sha256), C(node); after a run with C(hft_tune_mode=deferred)
          C(pending_reboot) and C(boot_id)); null when it is missing or not JSON.
      type: dict
    boot_id:
      description: The running boot's id (C(/proc/sys/kernel/random/boot_id)); null when it cannot be read.
      type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.bootloader import read_bootloader
from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import kernel_args
from ansible_collections.bot4.hft.plugins.module_utils.kubelet_reader import read_node_kubelet
from ansible_collections.bot4.hft.plugins.module_utils.node.core import ConfigError
from ansible_collections.bot4.hft.plugins.module_utils.node.runner import load_config, run


def _read(root, path):
    try:
        with open(os.path.join(root, path.lstrip("/"))) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _status_field(root, pid, name):
    for line in (_read(root, "/proc/%s/status" % pid) or "").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def read_affinity(root, slices):
    """PID 1's CPUs, the slices' cpusets, and each user-space process outside kubepods."""
    processes = []
    for entry in sorted(os.listdir(os.path.join(root, "proc")), key=lambda e: (len(e), e)):
        if not entry.isdigit() or entry == "1":
            continue
        # Kernel threads have no command line; their CPUs are the kernel's business.
        if not _read(root, "/proc/%s/cmdline" % entry):
            continue
        cgroup = _read(root, "/proc/%s/cgroup" % entry) or ""
        if "kubepods" in cgroup:
            continue
        cpus = _status_field(root, entry, "Cpus_allowed_list")
        if cpus is None:
            continue
        processes.append({"pid": int(entry), "comm": _read(root, "/proc/%s/comm" % entry), "cpus": cpus,
                          "cgroup": cgroup.split("::", 1)[-1]})
    return {
        "pid1": _status_field(root, 1, "Cpus_allowed_list"),
        "slices": {name: _read(root, "/sys/fs/cgroup/%s/cpuset.cpus.effective" % name) for name in slices},
        "processes": processes,
    }


def read_runtime(root, applier, config_dir):
    result = {"installed": os.access(os.path.join(root, applier.lstrip("/")), os.X_OK),
              "config": None, "report": None, "error": None}
    directory = os.path.join(root, config_dir.lstrip("/"))
    if not os.path.isdir(directory):
        return result
    try:
        result["config"] = load_config([directory], None)
    except ConfigError as exc:
        result["error"] = str(exc)
        return result
    _unused, result["report"] = run(result["config"], [], root=root, check=True)
    return result


def command_runner(module):
    """``run(argv) -> (rc, stdout, stderr)`` through the module's run_command; a
    command that cannot be started raises OSError instead of failing the module
    (read_node_kubelet then reads no output from it)."""
    def run_command(argv):
        return module.run_command(argv, handle_exceptions=False)
    return run_command


def read_unit(module, unit, root="/"):
    """The boot unit's UnitFileState and Result. Below a root (a node seen
    from outside, no systemd running for it) only whether it is enabled, as
    ``systemctl --root`` reads the unit files; Result stays empty."""
    fields = {"UnitFileState": "", "Result": ""}
    if os.path.realpath(root) != "/":
        rc, out, _unused = module.run_command(["systemctl", "--root", root, "is-enabled", unit])
        fields["UnitFileState"] = out.strip() if out.strip() in ("enabled", "disabled", "static") else ""
        return fields
    rc, out, _unused = module.run_command(["systemctl", "show", "-p", "UnitFileState", "-p", "Result", unit])
    if rc == 0:
        for line in out.splitlines():
            key, _unused, value = line.partition("=")
            if key in fields:
                fields[key] = value.strip()
    return fields


def read_record(root, path):
    """The record of the last complete tuning run, or None (missing, or not a JSON object)."""
    try:
        data = json.loads(_read(root, path) or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


PARTS = ["kernel", "runtime", "affinity", "kubelet"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            parts=dict(type="list", elements="str", choices=PARTS, default=PARTS),
            kernel_args=dict(type="dict", options=dict(
                args=dict(type="list", elements="str", default=[]),
                owned_keys=dict(type="list", elements="str", default=[], no_log=False),
                backend=dict(type="str", choices=["auto", "grub_dropin", "grubby"], default="auto"),
                conflicts=dict(type="str", choices=["fail", "warn"], default="fail"),
                dropin_path=dict(type="path", default="/etc/default/grub.d/90-bot4-hft.cfg"),
                kernel=dict(type="str", choices=["any", "realtime", "generic"], default="any"),
                grub_probe_command=dict(type="list", elements="str",
                                        default=["grub-probe", "--target=fs_uuid", "/"]),
            )),
            kubelet=dict(type="dict", options=dict(
                service=dict(type="str", default="kubelet"),
                root_dir=dict(type="path", default="/var/lib/kubelet"),
                config_file=dict(type="str", default="auto"),
                config_dir=dict(type="str", default="auto"),
                default_config_file=dict(type="path", default="/var/lib/kubelet/config.yaml"),
                strict_cpu_reservation=dict(type="str", choices=["auto", "true", "false"], default="auto"),
            )),
            record=dict(type="path", default="/etc/bot4-hft/tuned.json"),
            slices=dict(type="list", elements="str", default=["system.slice", "user.slice"]),
            root=dict(type="path", default="/"),
            config_dir=dict(type="path", default="/etc/bot4-hft/runtime.d"),
            applier=dict(type="path", default="/usr/local/sbin/bot4-hft-runtime"),
            unit=dict(type="str", default="bot4-hft-runtime.service"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = params["root"]
    live = os.path.realpath(root) == "/"
    parts = set(params["parts"])
    state = {"record": read_record(root, params["record"]),
             "boot_id": _read(root, "/proc/sys/kernel/random/boot_id")}
    if "kernel" in parts:
        state["cmdline"] = kernel_args(_read(root, "/proc/cmdline") or "")
        state["isolated"] = _read(root, "/sys/devices/system/cpu/isolated")
        # "(null)" is how an unset nohz_full reads on some kernels.
        nohz_full = _read(root, "/sys/devices/system/cpu/nohz_full")
        state["nohz_full"] = "" if nohz_full == "(null)" else nohz_full
        state["offline"] = _read(root, "/sys/devices/system/cpu/offline")
        # uname -r and uname -v: a PREEMPT_RT kernel says so in its version.
        version = _read(root, "/proc/sys/kernel/version")
        state["kernel"] = {"release": _read(root, "/proc/sys/kernel/osrelease"), "version": version,
                           "realtime": "PREEMPT_RT" in (version or "").split()}
        state["bootloader"] = None
        if params["kernel_args"] is not None:
            state["bootloader"] = read_bootloader(module, root=root, **params["kernel_args"])
    if "runtime" in parts:
        state["runtime"] = read_runtime(root, params["applier"], params["config_dir"])
        state["unit"] = read_unit(module, params["unit"], root)
    if "affinity" in parts:
        state["affinity"] = read_affinity(root, params["slices"])
    if "kubelet" in parts:
        state["kubelet"] = None
        options = params["kubelet"]
        if options is not None:
            # Below a test root neither commands nor PATH are the node's.
            node = {"run": command_runner(module)} if live else {"run": None, "which": None}
            state["kubelet"] = read_node_kubelet(
                service=options["service"], root_dir=options["root_dir"], config_file=options["config_file"],
                config_dir=options["config_dir"], default_config_file=options["default_config_file"],
                strict=options["strict_cpu_reservation"], root=root, **node)
    module.exit_json(changed=False, state=state)


if __name__ == "__main__":
    main()
