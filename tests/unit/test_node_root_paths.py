# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every node-side step finds the node's files below ``hft_node_root``
(docs/fleet.md): each builtin file task of the roles and playbooks takes its
node path through the ``bot4.hft.node_path`` filter, and each of the
collection's modules that reads or writes the node gets ``root``.  Otherwise a
run against a simulated node would read or change the controller itself.

The only file tasks without the filter write the controller's own reports,
under the directories listed in CONTROLLER_DIRS, or belong to the roles that
work on the cluster's API (CLUSTER_ROLES)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# module -> the parameters that name a node path
FILE_MODULES = {
    "ansible.builtin.template": ("dest",),
    "ansible.builtin.copy": ("dest",),
    "ansible.builtin.file": ("path",),
    "ansible.builtin.slurp": ("src",),
    "ansible.builtin.stat": ("path",),
    "ansible.builtin.find": ("paths",),
    "ansible.builtin.lineinfile": ("path",),
    "ansible.builtin.blockinfile": ("path",),
}
# The collection's modules that read or write a node's files.
ROOT_MODULES = ("bot4.hft.node_plan_info", "bot4.hft.node_state_info", "bot4.hft.node_state",
                "bot4.hft.node_manifest", "bot4.hft.kernel_cmdline")
# Directories on the controller (reports, scratch space), never on the node.
CONTROLLER_DIRS = ("{{ drift_report_dir }}", "{{ latency_gate_report_dir }}", "{{ node_picture_dir }}",
                   "{{ preflight_plan_dir }}", "{{ __cluster_deploy_register_tmpdir.path }}")


# Roles that run against the cluster's API from the controller, not on a node.
CLUSTER_ROLES = ("cluster_deploy", "external_secrets")


def task_files():
    files = [path for path in sorted(REPO.glob("roles/*/tasks/*.yml")) if path.parts[-3] not in CLUSTER_ROLES]
    files += sorted(REPO.glob("playbooks/*.yml"))
    assert len(files) > 40, files
    return files


def tasks_of(path):
    data = yaml.safe_load(path.read_text()) or []
    if path.parent.name == "playbooks":
        for play in data:
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from walk(play.get(key) or [])
    else:
        yield from walk(data)


def walk(tasks):
    for task in tasks:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from walk(task.get(key) or [])


def problems(path):
    found = []
    for task in tasks_of(path):
        for module, params in FILE_MODULES.items():
            args = task.get(module)
            if not isinstance(args, dict):
                continue
            for param in params:
                value = str(args.get(param, ""))
                if value and "node_path" not in value and not value.startswith(CONTROLLER_DIRS):
                    found.append("%s: %r: %s=%s does not go through bot4.hft.node_path"
                                 % (path.relative_to(REPO), task.get("name"), param, value))
        for module in ROOT_MODULES:
            args = task.get(module)
            if isinstance(args, dict) and "hft_node_root" not in str(args.get("root", "")):
                found.append("%s: %r: %s without root" % (path.relative_to(REPO), task.get("name"), module))
    return found


@pytest.mark.parametrize("path", task_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_node_side_tasks_find_the_node_below_its_root(path):
    assert problems(path) == []


def test_the_check_finds_a_task_without_the_root(tmp_path):
    roles = tmp_path / "roles" / "demo" / "tasks"
    roles.mkdir(parents=True)
    bad = roles / "main.yml"
    bad.write_text(yaml.safe_dump([
        {"name": "Write a drop-in", "ansible.builtin.copy": {"dest": "/etc/demo.conf", "content": "x"}},
        {"name": "Plan", "bot4.hft.node_plan_info": {"profile": "{{ p }}"}},
        {"name": "Good", "block": [{"name": "Read", "ansible.builtin.slurp": {
            "src": "{{ '/proc/cmdline' | bot4.hft.node_path(hft_node_root | default('/')) }}"}}]}]))
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert [line.split(": ")[1] for line in problems(bad)] == ["'Write a drop-in'", "'Plan'"]
    finally:
        REPO = saved
