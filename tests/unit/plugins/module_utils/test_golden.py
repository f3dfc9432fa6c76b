# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden plans: tests/unit/golden/<shape>__<profile>.json must equal the
planner's output byte for byte.

Regenerate after an intended change with

    BOT4_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/plugins/module_utils/test_golden.py

and review the diff: a golden file that encodes a bug is worse than none.
"""

import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.bot4.hft.plugins.module_utils.planner import plan, plan_json

GOLDEN = Path(__file__).resolve().parents[2] / "golden"

PAIRS = [
    ("lab", "lab"),
    ("lab", "defaults"),
    ("single8", "minimal"),
    ("xeon2s", "hft"),
    ("xeon2s", "first_nosmt"),
    ("epyc_nps4", "nps4"),
    ("offline2s", "explicit"),
    ("lab_memnode", "lab"),
]


def load_profile(name):
    with open(GOLDEN / "profiles" / (name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("shape, profile", PAIRS, ids=["%s__%s" % p for p in PAIRS])
def test_golden_plan(shape_topology, shape, profile):
    text = plan_json(plan(load_profile(profile), shape_topology(shape)))
    path = GOLDEN / ("%s__%s.json" % (shape, profile))
    if os.environ.get("BOT4_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), "%s is missing; run with BOT4_UPDATE_GOLDEN=1 and review it" % path
    assert path.read_text(encoding="utf-8") == text, (
        "plan for %s x %s differs from %s; if the change is intended, regenerate with "
        "BOT4_UPDATE_GOLDEN=1 and review the diff" % (shape, profile, path.name)
    )


def test_every_golden_file_is_tested():
    names = {"%s__%s.json" % p for p in PAIRS}
    assert {p.name for p in GOLDEN.glob("*.json")} <= names


def test_every_machine_shape_has_a_golden_plan():
    from sysfs_builder import SHAPES

    assert {shape for shape, _unused in PAIRS} == set(SHAPES)
