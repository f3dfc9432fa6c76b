# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/profile.md shows the kernel argument and sysctl tables of kernel_policy
as they are.  BOT4_UPDATE_GOLDEN=1 rewrites the block between the markers."""

import os
from pathlib import Path

from ansible_collections.bot4.hft.plugins.module_utils.kernel_policy import (
    ARG_SYSCTLS,
    FORBIDDEN_ARGS,
    OWNED_ARGS,
    OWNED_SYSCTLS,
)

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


def test_the_docs_show_the_kernel_policy_tables():
    text = DOC_PATH.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    start = text.index(BEGIN)
    end = text.index(END) + len(END)
    want = render()
    if os.environ.get("BOT4_UPDATE_GOLDEN") == "1" and text[start:end] != want:
        DOC_PATH.write_text(text[:start] + want + text[end:], encoding="utf-8")
        text = DOC_PATH.read_text(encoding="utf-8")
        end = start + len(want)
    assert text[start:end] == want


def test_every_table_entry_has_its_comment_in_the_source():
    # one comment per entry: the line of each key, or the line above it, is a comment
    source = (Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "kernel_policy.py").read_text()
    lines = source.splitlines()
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
