# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/profile.md documents every profile field and every part of the plan."""

import re
from pathlib import Path

from ansible_collections.bot4.hft.plugins.module_utils.planner import plan
from ansible_collections.bot4.hft.plugins.module_utils.profile import DEFAULTS, OWNED_ARG_HINTS

DOC = (Path(__file__).resolve().parents[3] / "docs" / "profile.md").read_text(encoding="utf-8")


def section(title):
    match = re.search(r"^## `?%s`?\n(.*?)(?=^## )" % re.escape(title), DOC, re.M | re.S)
    assert match, title
    return match.group(1)


def test_every_profile_field_is_documented():
    for name, default in DEFAULTS.items():
        assert "`%s`" % name in DOC, name
        if isinstance(default, dict) and default and name != "sysctl":
            text = section(name)
            for key in default:
                assert "| `%s` |" % key in text, "%s.%s" % (name, key)


def test_every_owned_kernel_argument_is_documented():
    text = section("kernel")
    for key in OWNED_ARG_HINTS:
        assert "`%s`" % key in text, key


def test_the_plan_shape_is_documented(shape_topology):
    result = plan({"dpdk": {"devices": [{"pci": "0000:81:00.0"}]}}, shape_topology("lab"))
    text = section("The plan")
    for key, value in result.items():
        assert re.search(r"^%s:" % re.escape(key), text, re.M), key
        if isinstance(value, dict) and key != "sysctl":  # sysctl keys are data
            for sub in value:
                assert re.search(r"^\s+%s:|\{%s:| %s:" % ((re.escape(sub),) * 3), text, re.M), "%s.%s" % (key, sub)
