# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_picture_svg, node_picture_html, node_picture_index: a picture of each
node from its plan and what verify found, and the fleet's index page
(plugins/module_utils/node_picture.py).  Documentation in the .yml files."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.node_picture import (
    fleet_index_html,
    node_html,
    node_svg,
)


def _check(plan, report, state, name):
    if not isinstance(plan, dict) or "layout" not in plan:
        raise AnsibleFilterError("%s: the input is a node's plan (hft_plan, with its layout)" % name)
    if report is not None and not isinstance(report, dict):
        raise AnsibleFilterError("%s: report is the verify role's verify_report (a mapping) or null" % name)
    if state is not None and not isinstance(state, dict):
        raise AnsibleFilterError("%s: state is the verify role's verify_state (a mapping) or null" % name)


def node_picture_svg(plan, report=None, state=None, host=""):
    """The node's picture, an SVG document."""
    _check(plan, report, state, "node_picture_svg")
    try:
        return node_svg(plan, report, state, str(host))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("node_picture_svg: %s" % exc)


def node_picture_html(plan, report=None, state=None, host="", index="index.html"):
    """The node's page: the picture, the differences, the plan and the report."""
    _check(plan, report, state, "node_picture_html")
    try:
        return node_html(plan, report, state, str(host), index=str(index or ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("node_picture_html: %s" % exc)


def node_picture_index(nodes, title="HFT nodes"):
    """The fleet's page: each node with its status, linked to its page."""
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "host" in n for n in nodes):
        raise AnsibleFilterError("node_picture_index: the input is a list of {host, report, plan}")
    try:
        return fleet_index_html(nodes, str(title))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("node_picture_index: %s" % exc)


class FilterModule:
    """bot4.hft node picture filters."""

    def filters(self):
        return {
            "node_picture_svg": node_picture_svg,
            "node_picture_html": node_picture_html,
            "node_picture_index": node_picture_index,
        }
