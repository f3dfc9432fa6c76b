# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/profile.md shows the tables of kernel_policy as they are: the kernel
argument and sysctl tables, and the table of every setting a plan produces
(PLAN_SETTINGS, which must have an entry for each).  BOT4_UPDATE_GOLDEN=1
rewrites each block between its markers."""

import os
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import owned_keys_for
from ansible_collections.bot4.hft.plugins.module_utils.kernel_policy import (
    ARG_SYSCTLS,
    FORBIDDEN_ARGS,
    OWNED_ARGS,
    OWNED_SYSCTLS,
    PLAN_SETTINGS,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.core import SECTIONS
from ansible_collections.bot4.hft.plugins.module_utils.planner import plan

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "profile.md"
BEGIN = "<!-- kernel_policy tables: generated from plugins/module_utils/kernel_policy.py -->\n"
END = "<!-- end of kernel_policy tables -->\n"


def render():
    lines = ["Kernel arguments the collection owns (`plan.kernel_arg_keys`), each refused in",
             "`kernel.extra_args` with the field to use instead:", "",
             "| argument | set by |", "|---|---|"]
    lines += ["| `%s` | `%s` |" % (key, field) for key, field in sorted(OWNED_ARGS.items())]
    lines += ["", "Kernel arguments refused in `kernel.extra_args`:", "",
              "| argument | refused when the value holds | why | use instead |", "|---|---|---|---|"]
    for key, rule in sorted(FORBIDDEN_ARGS.items()):
        values = ", ".join("`%s`" % v for v in rule.values) if rule.values else "any value"
        lines.append("| `%s` | %s | %s | %s |" % (key, values, rule.reason, "`%s`" % rule.field if rule.field else "—"))
    lines += ["", "Kernel arguments that set a sysctl (as does `sysctl.<name>=`); the same sysctl",
              "with another value in the `sysctl` map is refused:", "",
              "| argument | sysctl |", "|---|---|"]
    lines += ["| `%s` | `%s` |" % (key, name) for key, name in sorted(ARG_SYSCTLS.items())]
    lines += ["", "Sysctls refused in the `sysctl` map (and as `sysctl.<name>=` in `kernel.extra_args`):", "",
              "| sysctl | why | use instead |", "|---|---|---|"]
    for name, (field, why) in sorted(OWNED_SYSCTLS.items()):
        lines.append("| `%s` | %s | %s |" % (name, why, "`%s`" % field if field else "—"))
    return BEGIN + "\n".join(lines) + "\n" + END


SETTINGS_BEGIN = "<!-- plan settings table: generated from PLAN_SETTINGS in plugins/module_utils/kernel_policy.py -->\n"
SETTINGS_END = "<!-- end of plan settings table -->\n"
KINDS = {"argument": "kernel argument", "sysctl": "sysctl", "runtime": "runtime section", "node": "node"}


def render_settings():
    lines = ["| setting | kind | our default | the Node Tuning Operator | why |", "|---|---|---|---|---|"]
    for kind in KINDS:
        lines += ["| `%s` | %s | %s | %s | %s |" % (name, KINDS[kind], s.ours, s.operator, s.why)
                  for name, s in PLAN_SETTINGS.items() if s.kind == kind]
    return SETTINGS_BEGIN + "\n".join(lines) + "\n" + SETTINGS_END


# Each generated block of docs/profile.md: its markers and what it must hold.
BLOCKS = [(BEGIN, END, render), (SETTINGS_BEGIN, SETTINGS_END, render_settings)]


@pytest.mark.parametrize("begin, end_marker, produce", BLOCKS, ids=["kernel_policy", "plan_settings"])
def test_the_docs_show_the_kernel_policy_tables(begin, end_marker, produce):
    text = DOC_PATH.read_text(encoding="utf-8")
    assert text.count(begin) == 1 and text.count(end_marker) == 1
    start = text.index(begin)
    end = text.index(end_marker) + len(end_marker)
    want = produce()
    if os.environ.get("BOT4_UPDATE_GOLDEN") == "1" and text[start:end] != want:
        DOC_PATH.write_text(text[:start] + want + text[end:], encoding="utf-8")
        text = DOC_PATH.read_text(encoding="utf-8")
        end = start + len(want)
    assert text[start:end] == want


# Profiles that between them make the plan produce every setting it can.
EVERYTHING = [
    ({}, "lab"),
    ({"dpdk": {"devices": [{"id": "8086:10d3"}], "driver": "vfio-pci"}, "cpu": {"offline": "7"},
      "hugepages": {"pages": [{"size": "1G", "count": 1, "node": 1}]},
      "kernel": {"realtime_scheduling": True}, "power": {"idle_poll": True, "min_perf_pct": 100}}, "lab"),
    ({"cpu": {"smt": "disabled"}}, "xeon2s"),
    ({"dpdk": {"devices": [{"id": "8086:159b"}], "driver": "vfio-pci"}, "numa": {"nic_locality": "ignore"}},
     "epyc_nps4"),
]


def plan_settings(shape_topology, profile, shape):
    p = plan(profile, shape_topology(shape))
    args = set(owned_keys_for(p["kernel_args"], p["kernel_arg_keys"]))
    names = {arg.split("=", 1)[0] for arg in p["kernel_args"]} & args
    names |= set(p["sysctl"]) | {"runtime." + section for section in p["runtime"]} | {"disabled_units"}
    if p["realtime_scheduling"]["stalld"]:
        names.add("realtime_scheduling.stalld")
    return names


def test_every_setting_a_plan_produces_is_in_the_table(shape_topology):
    produced = set()
    for profile, shape in EVERYTHING:
        names = plan_settings(shape_topology, profile, shape)
        assert not names - set(PLAN_SETTINGS), (profile, shape)
        produced |= names
    # and every entry of the table is one a plan produces (or an owned argument it only removes)
    assert set(PLAN_SETTINGS) - produced <= {"amd_iommu"}, sorted(set(PLAN_SETTINGS) - produced)
    kinds = {name: s.kind for name, s in PLAN_SETTINGS.items()}
    assert {n for n, k in kinds.items() if k == "argument"} == set(OWNED_ARGS)
    assert {n for n, k in kinds.items() if k == "runtime"} == {"runtime." + section for section in SECTIONS}


def test_every_table_entry_has_its_comment_in_the_source():
    # one comment per entry: the line of each key, or the line above it, is a comment
    source = (Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "kernel_policy.py").read_text()
    # (the tables above PLAN_SETTINGS, whose entries carry their reason themselves)
    lines = source.split("\nPLAN_SETTINGS: ")[0].splitlines()
    for table in (OWNED_ARGS, FORBIDDEN_ARGS, ARG_SYSCTLS, OWNED_SYSCTLS):
        for key in table:
            if table is OWNED_SYSCTLS and OWNED_SYSCTLS[key][0] is None:
                continue  # PLANNED_SYSCTL's entries, commented there
            found = [i for i, line in enumerate(lines) if line.strip().startswith('"%s":' % key)]
            assert found, key
            i = found[-1] if table is not OWNED_ARGS else found[0]
            assert "#" in lines[i] or lines[i - 1].strip().startswith("#"), key


def test_no_argument_is_both_owned_and_refused():
    # an argument the plan comes to write moves from FORBIDDEN_ARGS to OWNED_ARGS
    assert not set(OWNED_ARGS) & set(FORBIDDEN_ARGS)
    assert not set(OWNED_ARGS) & set(ARG_SYSCTLS)
    assert all(key == key.replace("-", "_") for key in list(OWNED_ARGS) + list(FORBIDDEN_ARGS) + list(ARG_SYSCTLS))
