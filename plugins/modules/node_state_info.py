#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

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
  - The filter P(bot4.hft.node_differences#filter) compares the result with the plan.
author:
  - Bot4 platform team (@bot4-platform)
options:
  slices:
    description:
      - systemd slices whose C(cpuset.cpus.effective) is read (C(/sys/fs/cgroup/<slice>/cpuset.cpus.effective)).
    type: list
    elements: str
    default: [system.slice, user.slice]
  root:
    description:
      - Directory where the node's root filesystem is seen; for tests. The unit state is read only when it is C(/).
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
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import kernel_args
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
    _, result["report"] = run(result["config"], [], root=root, check=True)
    return result


def read_unit(module, unit):
    rc, out, _ = module.run_command(["systemctl", "show", "-p", "UnitFileState", "-p", "Result", unit])
    fields = {"UnitFileState": "", "Result": ""}
    if rc == 0:
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key in fields:
                fields[key] = value.strip()
    return fields


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
    state = {
        "cmdline": kernel_args(_read(root, "/proc/cmdline") or ""),
        "isolated": _read(root, "/sys/devices/system/cpu/isolated"),
        "nohz_full": _read(root, "/sys/devices/system/cpu/nohz_full"),
        "runtime": read_runtime(root, params["applier"], params["config_dir"]),
        "unit": read_unit(module, params["unit"]) if os.path.realpath(root) == "/" else {"UnitFileState": "",
                                                                                         "Result": ""},
        "affinity": read_affinity(root, params["slices"]),
    }
    # "(null)" is how an unset nohz_full reads on some kernels.
    if state["nohz_full"] == "(null)":
        state["nohz_full"] = ""
    module.exit_json(changed=False, state=state)


if __name__ == "__main__":
    main()
