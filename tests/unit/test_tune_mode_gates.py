# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hft_tune_mode=deferred changes nothing that runs on a node (docs/fleet.md).

The simulated fleet (tests/cluster/test_fleet_deferred.py) shows it below a
root, where systemd, udev and the kubelet are not run anyway. This checks the
paths of a real node too: every task of a tuning role that changes the
running system (a service started, stopped, restarted, enabled or disabled
through the running systemd, daemon-reload, taskset, udevadm, modprobe, the
applier in apply mode, a drain, a reboot) is reached only under the role's one
gate, ``__<role>_now`` (from ``<role>_tune_mode``); a unit is enabled or
disabled in deferred mode only with ``systemctl --no-reload`` (or ``--root``).
And tune_nodes.yml passes its mode to every such role and cordons, drains and
gates only in immediate mode."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
GATES = {
    "housekeeping": "__housekeeping_now",
    "hugepages": "__hugepages_now",
    "cpu_power": "__cpu_power_now",
    "dpdk": "__dpdk_now",
    "kubelet": "__kubelet_now",
}
# Entry points other roles or playbooks run, besides main: their callers gate
# them (runtime_section in apply mode: checked at every import below), or they
# only read (the verify and compare entry points, run after a reboot).
ENTRY_POINTS = {"housekeeping": ["applier.yml"]}
SERVICE_MODULES = ("ansible.builtin.systemd_service", "ansible.builtin.systemd", "ansible.builtin.service",
                   "systemd_service", "systemd", "service")
COMMAND_MODULES = ("ansible.builtin.command", "ansible.builtin.shell", "command", "shell")
IMPORTS = ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks", "import_tasks", "include_tasks")
ROLE_IMPORTS = ("ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role")
RUNTIME_COMMANDS = re.compile(r"\b(taskset|udevadm|modprobe|systemctl|touch)\b")
OFFLINE_SYSTEMCTL = re.compile(r"--no-reload|--root|_systemctl_links|_systemctl_root")
READ_ONLY_SYSTEMCTL = re.compile(r"list-unit-files|is-system-running|is-enabled")


def load(path: Path):
    return yaml.safe_load(path.read_text()) or []


def conditions(task: dict) -> list[str]:
    when = task.get("when")
    if when is None:
        return []
    return [str(w) for w in (when if isinstance(when, list) else [when])]


def reached(role: Path, entry: Path, inherited: list[str] = (), seen: tuple = ()):
    """(file, task, conditions on the way) for every task reached from ``entry``."""
    yield from _walk_list(role, entry, load(entry), inherited, seen)


def _walk_list(role, entry, tasks, inherited, seen):
    for task in tasks:
        if not isinstance(task, dict):
            continue
        conds = list(inherited) + conditions(task)
        yield entry, task, conds
        for key in ("block", "rescue", "always"):
            if task.get(key):
                yield from _walk_list(role, entry, task[key], conds, seen)
        for key in IMPORTS:
            if key in task:
                target = role / "tasks" / (task[key] if isinstance(task[key], str) else task[key]["file"])
                if target not in seen:
                    yield from reached(role, target, conds, seen + (target,))


def changes_what_runs(task: dict) -> str | None:
    """Why ``task`` changes the running system, or None."""
    for module in SERVICE_MODULES:
        if isinstance(task.get(module), dict):
            return "%s %s" % (module, sorted(task[module]))
    for module in COMMAND_MODULES:
        if module in task:
            args = task[module]
            if isinstance(args, dict):
                text = " ".join(map(str, args.get("argv") or [args.get("cmd", "")]))
            else:
                text = str(args)
            if RUNTIME_COMMANDS.search(text) and not OFFLINE_SYSTEMCTL.search(text) \
                    and not READ_ONLY_SYSTEMCTL.search(text):
                return "%s: %s" % (module, text.strip()[:80])
    for module in ROLE_IMPORTS:
        args = task.get(module)
        if not isinstance(args, dict):
            continue
        if args.get("tasks_from") == "runtime_section" and \
                (task.get("vars") or {}).get("housekeeping_runtime_mode", "apply") != "check":
            return "the applier in apply mode (%s)" % args.get("name")
        if args.get("name") == "bot4.hft.node_drain" and args.get("tasks_from") in ("drain", "uncordon"):
            return "node_drain %s" % args["tasks_from"]
        if args.get("name") == "bot4.hft.hugepages" and args.get("tasks_from") == "mounts":
            return "the hugepages role's mounts"
    for module in IMPORTS:
        if str(task.get(module, "")).endswith("runtime_section.yml") and \
                (task.get("vars") or {}).get("housekeeping_runtime_mode", "apply") != "check":
            return "the applier in apply mode (%s)" % task[module]
    if "bot4.hft.node_state" in task and (task["bot4.hft.node_state"] or {}).get("mode", "apply") != "check":
        return "bot4.hft.node_state"
    if "ansible.builtin.reboot" in task:
        return "reboot"
    return None


def role_tasks(name: str):
    role = ROLES / name
    entries = [role / "tasks" / "main.yml"] + [role / "tasks" / f for f in ENTRY_POINTS.get(name, [])]
    for entry in entries:
        yield from reached(role, entry, [], (entry,))
    handlers = role / "handlers" / "main.yml"
    if handlers.exists():
        yield from reached(role, handlers, [], (handlers,))


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_runtime_step_is_behind_the_roles_gate(name):
    gate = GATES[name]
    found, ungated = [], []
    for path, task, conds in role_tasks(name):
        if path.name == "runtime_section.yml":
            continue  # the generic entry point: every import of it is checked
        why = changes_what_runs(task)
        if why is None:
            continue
        found.append(why)
        if not any(gate in c for c in conds):
            ungated.append(f"{path.relative_to(REPO)}: {task.get('name')!r} ({why}) runs without {gate}")
    assert found, f"{name}: no runtime step found, the check is looking at nothing"
    assert not ungated, "\n".join(ungated)


@pytest.mark.parametrize("name", sorted(GATES))
def test_the_gate_is_the_roles_tune_mode(name):
    role = ROLES / name
    variables = load(role / "vars" / "main.yml")
    assert variables[GATES[name]] == "{{ %s_tune_mode == 'immediate' }}" % name
    assert load(role / "defaults" / "main.yml")[f"{name}_tune_mode"] == "immediate"
    spec = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"][f"{name}_tune_mode"]
    assert spec["choices"] == ["immediate", "deferred"] and spec["default"] == "immediate"


def test_every_import_of_the_applier_passes_the_callers_mode():
    """housekeeping's applier entry point enables the boot unit: the calling
    role's mode must reach it."""
    imports = []
    for name in ("hugepages", "cpu_power", "dpdk"):
        for path, task, _conds in role_tasks(name):
            for module in ROLE_IMPORTS:
                args = task.get(module)
                if isinstance(args, dict) and args.get("tasks_from") == "applier":
                    imports.append((name, path.name, (task.get("vars") or {}).get("housekeeping_tune_mode")))
    assert {name for name, _f, _m in imports} == {"hugepages", "cpu_power", "dpdk"}, imports
    for name, path, mode in imports:
        assert mode == "{{ %s_tune_mode }}" % name, (name, path, mode)


def test_node_reboot_never_reboots_in_deferred_mode():
    decide = load(ROLES / "node_reboot" / "tasks" / "decide.yml")[0]["ansible.builtin.set_fact"]
    assert "node_reboot_tune_mode != 'deferred' and" in decide["__node_reboot_do"]
    assert "node_reboot_tune_mode == 'deferred' or" in decide["node_reboot_pending"]
    for task in load(ROLES / "node_reboot" / "tasks" / "reboot.yml"):
        if changes_what_runs(task) or "hft_node_simulator" in str(task):
            assert "__node_reboot_do | bool" in conditions(task), task.get("name")


def _playbook_tasks(tasks, inherited=()):
    for task in tasks or []:
        conds = list(inherited) + conditions(task)
        yield task, conds
        for key in ("block", "rescue", "always"):
            yield from _playbook_tasks(task.get(key), conds)


def test_tune_nodes_passes_its_mode_and_cordons_and_gates_only_in_immediate_mode():
    plays = load(REPO / "playbooks" / "tune_nodes.yml")
    preflight, tune = plays
    check = preflight["pre_tasks"][0]
    assert check["ansible.builtin.assert"]["that"] == \
        "hft_tune_mode | default('immediate') in ['immediate', 'deferred']"
    assert "hft_tune_mode must be" in check["ansible.builtin.assert"]["fail_msg"]
    assert tune["vars"]["__tune_now"] == "{{ __tune_mode == 'immediate' }}"
    modes = {}
    for task, conds in _playbook_tasks(tune["tasks"]):
        args = task.get("ansible.builtin.import_role") or task.get("ansible.builtin.include_role") or {}
        role = str(args.get("name", "")).replace("bot4.hft.", "")
        if role in list(GATES) + ["node_reboot"] and not args.get("tasks_from"):
            modes[role] = (task.get("vars") or {}).get(f"{role}_tune_mode")
        if role == "node_drain" and args.get("tasks_from") in ("drain", "ready", "uncordon", "hold"):
            assert any("__tune_cordon" in c for c in conds), task["name"]
        if role in ("latency_gate",) or (role == "dpdk" and args.get("tasks_from") == "verify"):
            assert any("__tune_now" in c for c in conds), task["name"]
        if task.get("name") == "Decide how the node changes in this run":
            assert "__tune_now | bool" in task["ansible.builtin.set_fact"]["__tune_cordon"]
    assert modes == {role: "{{ __tune_mode }}" for role in list(GATES) + ["node_reboot"]}, modes


def test_units_are_linked_without_reloading_the_running_systemd():
    """What the deferred tasks run instead of the running systemd's enable/disable."""
    links = load(ROLES / "housekeeping" / "vars" / "main.yml")["__housekeeping_systemctl_links"]
    assert links == "{{ ['systemctl'] + (__housekeeping_systemctl_root or ['--no-reload']) }}"
    for path, task, conds in role_tasks("hugepages"):
        argv = (task.get("ansible.builtin.command") or {}).get("argv") or []
        if "systemctl" in argv:
            assert argv[:2] == ["systemctl", "--no-reload"], (path.name, task["name"])
            assert any("not __hugepages_now" in c for c in conds), (path.name, task["name"])
