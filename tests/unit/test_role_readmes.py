# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role has a README that agrees with its meta/argument_specs.yml: each
option of each entry point named in full, each entry point other than main
named, and an example (YAML blocks that parse and use the role by its FQCN,
one of them a whole list of plays or tasks)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if p.is_dir())


def test_roles_found():
    assert len(ROLE_DIRS) >= 13


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_readme_matches_argument_specs(role: Path):
    readme = role / "README.md"
    assert readme.is_file(), f"{role.name}: no README.md"
    text = readme.read_text()
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    missing = sorted({
        f"{entry}: {option}"
        for entry, spec in specs.items()
        for option in (spec.get("options") or {})
        if not re.search(r"(?<![\w.])%s(?!\w)" % re.escape(option), text)
    })
    assert not missing, f"{role.name}/README.md does not name: {', '.join(missing)}"
    entries = [e for e in specs if e != "main" and not re.search(r"\b%s\b" % re.escape(e), text)]
    assert not entries, f"{role.name}/README.md does not name the entry points {entries}"


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_readme_has_an_example(role: Path):
    text = (role / "README.md").read_text()
    blocks = re.findall(r"^```ya?ml\n(.*?)^```", text, re.M | re.S)
    assert blocks, f"{role.name}/README.md has no YAML example"
    uses = [b for b in blocks if f"bot4.hft.{role.name}" in b]
    assert uses, f"{role.name}/README.md: no example uses bot4.hft.{role.name}"
    parsed = [yaml.safe_load(b) for b in uses]  # each one must parse
    assert any(isinstance(p, list) for p in parsed), \
        f"{role.name}/README.md: no example is a list of plays or tasks"
