#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_state
short_description: Bring a node's runtime state in line with its bot4.hft plan
version_added: "0.1.0"
description:
  - Applies the runtime part of a node plan (C(plan.runtime) from M(bot4.hft.node_plan_info)), what the kernel forgets
    at every boot, section by section, in this order
    C(hugepages) (per-NUMA-node pools, read back), C(dpdk) (PCI devices bound through C(driver_override)),
    C(sysctl), C(thp), C(irq) (every movable IRQ and the default affinity on the reserved CPUs), C(workqueue)
    (unbound workqueues' cpumask), C(rps) (receive packet steering), C(cpufreq), C(cpuidle) (per-CPU PM QoS resume
    latency) and C(energy_perf_bias).
  - Each section compares the node with the plan first and writes only what differs, then reads every written value
    back. A section whose configuration is invalid changes nothing.
  - Each section reads the node, decides what to write without touching it, and hands its actions to one writer, which
    writes, reads back and records; it refuses, with an error, any path that does not resolve below the directories
    that section owns (for example C(/proc/sys) for C(sysctl)) (C(docs/architecture.md)).
  - The boot unit C(bot4-hft-runtime.service) that the C(bot4.hft.housekeeping) role installs runs the same code
    (C(plugins/module_utils/node/)) at every boot, before the kubelet starts, so boot and run cannot disagree.
author:
  - Bot4 platform team (@bot4-platform)
options:
  config:
    description:
      - The desired runtime state, one key per section, as C(plan.runtime) holds it (C(docs/profile.md)).
    type: dict
    required: true
  sections:
    description:
      - Only these sections. Default every section in O(config).
      - A section named here but absent from O(config) is listed in C(not_configured) of RV(report).
    type: list
    elements: str
    choices: [cpu_offline, hugepages, dpdk, sysctl, thp, ksm, irq, workqueue, kthread, sweep, rps, cpufreq, cpuidle, energy_perf_bias, epp, min_perf_pct]
  mode:
    description:
      - C(apply) changes what differs. C(check) only reads and reports, also outside check mode (for example a
        read-back after a reboot); the task then never reports a change.
    type: str
    choices: [apply, check]
    default: apply
  fail_on_error:
    description:
      - Fail the task when a section reports an error (a write the kernel refused, a pool it could not fill).
      - C(false) returns the errors in RV(report) and leaves the decision to the caller.
    type: bool
    default: true
  root:
    description:
      - Directory where the node's root filesystem is seen (C(<root>/proc), C(<root>/sys)); for tests.
    type: path
    default: /
  state_dir:
    description:
      - The applier's runtime state below O(root) (IRQs found managed, DPDK devices' original drivers).
    type: path
    default: /run/bot4-hft
attributes:
  check_mode:
    support: full
    description: Reports every value that would change and writes nothing.
  diff_mode:
    support: full
    description: Shows each changed path with its value before and after.
seealso:
  - module: bot4.hft.node_plan_info
"""

EXAMPLES = r"""
- name: Apply the plan's runtime state
  bot4.hft.node_state:
    config: "{{ hft_plan.runtime }}"

- name: Read back the hugepage pools after a reboot, without changing anything
  bot4.hft.node_state:
    config: "{{ hft_plan.runtime }}"
    sections: [hugepages]
    mode: check
    fail_on_error: false
  register: __hft_register_pools
"""

RETURN = r"""
report:
  description:
    - The applier's report. C(mode) (C(check) or C(apply)), C(changed), C(failed), C(msg), C(not_configured), and
      C(sections), per section C(status) (C(ok), C(changed), C(would_change), C(skipped), C(failed)), C(changes)
      (C(path), C(before), C(after)), C(notices), C(errors) and the section's own data (for example C(pools) for
      hugepages, C(devices) for dpdk, C(managed) for irq).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.node.core import SECTIONS, ConfigError
from ansible_collections.bot4.hft.plugins.module_utils.node.runner import merge_config, run


def _diff(report):
    before, after = [], []
    for name, data in report["sections"].items():
        for change in data["changes"]:
            before.append("%s: %s = %s" % (name, change["path"], change["before"]))
            after.append("%s: %s = %s" % (name, change["path"], change["after"]))
    return {"before": "\n".join(before) + ("\n" if before else ""),
            "after": "\n".join(after) + ("\n" if after else "")}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="dict", required=True),
            sections=dict(type="list", elements="str", choices=list(SECTIONS)),
            mode=dict(type="str", choices=["apply", "check"], default="apply"),
            fail_on_error=dict(type="bool", default=True),
            root=dict(type="path", default="/"),
            state_dir=dict(type="path", default="/run/bot4-hft"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        config = merge_config([("config", params["config"])])
    except ConfigError as exc:
        module.fail_json(msg="config: %s" % exc, report={"sections": {}, "failed": True, "msg": str(exc)})
    read_only = module.check_mode or params["mode"] == "check"
    _unused, report = run(config, params["sections"] or [], root=params["root"], check=read_only,
                          state_dir=params["state_dir"])
    changed = report["changed"] and (params["mode"] == "apply")
    result = {"changed": changed, "report": report}
    if module._diff and report["changed"]:
        result["diff"] = _diff(report)
    if report["failed"] and params["fail_on_error"]:
        module.fail_json(msg=report["msg"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
