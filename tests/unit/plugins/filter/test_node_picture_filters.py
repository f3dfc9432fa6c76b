# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node picture filters: documented as they are called, the module's
output passed through, and bad input refused with a filter error."""

import inspect
import json
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter import node_picture as mod
from ansible_collections.bot4.hft.plugins.module_utils import node_picture

FILTER_DIR = Path(mod.__file__).resolve().parent
PLAN = json.loads((Path(__file__).resolve().parents[2] / "golden" / "lab__lab.json").read_text())
REPORT = {"host": "n1", "ok": True, "items": []}


@pytest.mark.parametrize("name", ["node_picture_svg", "node_picture_html", "node_picture_index"])
def test_documented_with_the_arguments_it_takes(name):
    function = mod.FilterModule().filters()[name]
    data = yaml.safe_load((FILTER_DIR / (name + ".yml")).read_text())
    assert data["DOCUMENTATION"]["name"] == name
    parameters = list(inspect.signature(function).parameters)
    assert set(data["DOCUMENTATION"]["options"]) == {"_input"} | set(parameters[1:])
    # positional: everything but html's index (a keyword)
    assert data["DOCUMENTATION"]["positional"].split(", ") == ["_input"] + parameters[1:4]
    assert data["RETURN"]["_value"]["type"] == "str"


def test_filters_give_the_module_output():
    assert mod.node_picture_svg(PLAN, REPORT, None, "n1") == node_picture.node_svg(PLAN, REPORT, None, "n1")
    assert mod.node_picture_html(PLAN, REPORT, None, "n1", index="") == \
        node_picture.node_html(PLAN, REPORT, None, "n1", index="")
    nodes = [{"host": "n1", "report": REPORT, "plan": PLAN}]
    assert mod.node_picture_index(nodes, "X") == node_picture.fleet_index_html(nodes, "X")


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="node_picture_svg: the input is a node's plan"):
        mod.node_picture_svg({"cpu": {}})
    with pytest.raises(AnsibleFilterError, match="report is the verify role's verify_report"):
        mod.node_picture_html(PLAN, "ok")
    with pytest.raises(AnsibleFilterError, match="state is the verify role's verify_state"):
        mod.node_picture_svg(PLAN, REPORT, ["state"])
    with pytest.raises(AnsibleFilterError, match="node_picture_index: the input is a list of"):
        mod.node_picture_index([{"report": REPORT}])
