"""Conditions on imported roles must hold up when tags select other tasks.

A role's argument-spec check is tagged ``always``. When a task file imports a
role (``import_role``) under a ``when``, that condition is copied onto the check
and evaluated even if ``--tags kubelet`` skipped the task that sets the fact it
reads. A fact set at run time therefore has to carry ``| default(...)`` in such a
condition, or the run stops with "'<fact>' is undefined".

Variables from the role's defaults/ and vars/ are always defined and need no
guard. The conditions checked are the import_role task's own and those of the
import_tasks chain that leads to it inside the same role.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.nodes as jn
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
IMPORT_ROLE = ("ansible.builtin.import_role", "import_role")
IMPORT_TASKS = ("ansible.builtin.import_tasks", "import_tasks")
# Names Ansible defines itself, and Jinja tests/literals that parse as names.
BUILTIN = {"ansible_check_mode", "inventory_hostname", "hostvars", "groups", "true", "false",
           "True", "False", "none", "None", "omit", "item", "ansible_play_hosts",
           "ansible_play_batch", "play_hosts", "ansible_facts", "role_path", "playbook_dir"}


def _load(path: Path):
    return yaml.safe_load(path.read_text()) or []


def _role_vars(role: Path) -> set[str]:
    names: set[str] = set()
    for sub in ("defaults", "vars"):
        for f in sorted((role / sub).glob("*.yml")):
            data = _load(f)
            if isinstance(data, dict):
                names.update(data)
    return names


def _unguarded(expr: str) -> set[str]:
    """Names in a condition that are read without a ``default`` filter around them."""
    env = jinja2.Environment()
    tree = env.parse("{{ (" + expr + ") }}")
    found: set[str] = set()

    def walk(node, guarded: bool):
        if isinstance(node, jn.Filter) and node.name in ("default", "d"):
            walk(node.node, True)
            for child in node.args:
                walk(child, guarded)
            return
        if isinstance(node, jn.Test) and node.name in ("defined", "undefined"):
            walk(node.node, True)
            return
        if isinstance(node, jn.Name) and not guarded:
            found.add(node.name)
        for child in node.iter_child_nodes():
            walk(child, guarded)

    walk(tree, False)
    return found


def _conditions(task: dict) -> list[str]:
    when = task.get("when")
    if when is None:
        return []
    return [str(w) for w in (when if isinstance(when, list) else [when])]


def _import_role_conditions(role: Path):
    """(task file, task name, conditions on the way to it) for every import_role in a role."""
    tasks_dir = role / "tasks"

    def walk(tasks, path: Path, inherited: list[str], seen: tuple):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            conds = inherited + _conditions(task)
            for key in ("block", "rescue", "always"):
                yield from walk(task.get(key), path, conds, seen)
            if any(k in task for k in IMPORT_ROLE):
                yield path, task.get("name", "?"), conds
            for k in IMPORT_TASKS:
                if k in task:
                    target = tasks_dir / (task[k] if isinstance(task[k], str) else task[k].get("file"))
                    if target not in seen and target.exists():
                        yield from walk(_load(target), target, conds, seen + (target,))

    for entry in sorted(tasks_dir.glob("*.yml")):
        yield from walk(_load(entry), entry, [], (entry,))


ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / "tasks").is_dir())


def test_roles_found():
    assert len(ROLE_DIRS) >= 8, [p.name for p in ROLE_DIRS]


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_imported_role_conditions_survive_tag_selection(role: Path):
    known = _role_vars(role) | BUILTIN
    problems = []
    for path, name, conds in _import_role_conditions(role):
        for cond in conds:
            missing = _unguarded(cond) - known
            if missing:
                problems.append(f"{path.relative_to(REPO)}: {name!r}: `{cond}` reads "
                                f"{sorted(missing)} without | default(...)")
    assert not problems, "\n".join(sorted(set(problems)))


@pytest.mark.parametrize("expr, names", [
    ("not dpdk_bind_deferred | bool", {"dpdk_bind_deferred"}),
    ("not dpdk_bind_deferred | default(false) | bool", set()),
    ("x is defined and x | bool", {"x"}),
    ("a.b | length > 0 and c | d(0) > 1", {"a"}),
])
def test_unguarded_names(expr, names):
    assert _unguarded(expr) == names
