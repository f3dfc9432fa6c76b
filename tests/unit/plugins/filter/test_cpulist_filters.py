# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cpulist filters, called directly and through Ansible templating."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter import cpulist as mod

REPO = Path(__file__).resolve().parents[4]
FILTER_DIR = REPO / "plugins" / "filter"


def test_expand():
    assert mod.cpulist_expand("0-3,8\n") == [0, 1, 2, 3, 8]
    assert mod.cpulist_expand([3, 1, 1]) == [1, 3]
    assert mod.cpulist_expand("") == []


def test_format():
    assert mod.cpulist([8, 0, 1, 2, 3]) == "0-3,8"
    assert mod.cpulist("3,1,2") == "1-3"
    assert mod.cpulist([]) == ""


def test_mask():
    assert mod.cpulist_mask("8-15") == "ff00"
    assert mod.cpulist_mask("8-15", 64) == "00000000,0000ff00"
    assert mod.cpulist_mask([0, 1, 4, 5], 8) == "33"


def test_set_operations():
    assert mod.cpulist_diff("0-7", "0-1") == "2-7"
    assert mod.cpulist_diff([0, 1, 2], [5]) == "0-2"
    assert mod.cpulist_intersect("0-5", "4-7") == "4-5"
    assert mod.cpulist_intersect("0-1", "4-7") == ""
    assert mod.cpulist_union("0-1", [4, 5]) == "0-1,4-5"


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: mod.cpulist_expand("1-"), "cpulist_expand: input: invalid cpulist"),
        (lambda: mod.cpulist(["x"]), "cpulist: input"),
        (lambda: mod.cpulist_mask("0-8", 8), "does not fit in a 8-bit mask"),
        (lambda: mod.cpulist_mask("0-3", 0), "nbits must be a positive integer"),
        (lambda: mod.cpulist_diff("0-3", "a"), "cpulist_diff: second set"),
        (lambda: mod.cpulist_intersect(True, "1"), "cpulist_intersect: input"),
    ],
)
def test_errors_are_filter_errors(call, fragment):
    with pytest.raises(AnsibleFilterError) as exc:
        call()
    assert fragment in str(exc.value)


def test_every_filter_has_documentation():
    names = set(mod.FilterModule().filters())
    docs = {p.stem for p in FILTER_DIR.glob("cpulist*.yml")}
    assert names == docs
    for name in names:
        data = yaml.safe_load((FILTER_DIR / (name + ".yml")).read_text())
        assert data["DOCUMENTATION"]["name"] == name
        assert "_input" in data["DOCUMENTATION"]["options"]
        assert data["RETURN"]["_value"]["type"]


def test_filters_work_in_a_playbook(tmp_path):
    """The FQCN names resolve from the collection and render as documented."""
    playbook = tmp_path / "filters.yml"
    playbook.write_text(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Render every filter
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ result | to_json }}"
      vars:
        result:
          expand: "{{ '0-3,8' | bot4.hft.cpulist_expand }}"
          format: "{{ [8, 0, 1, 2, 3] | bot4.hft.cpulist }}"
          mask: "{{ '8-15' | bot4.hft.cpulist_mask(64) }}"
          diff: "{{ '0-7' | bot4.hft.cpulist_diff('0-1') }}"
          intersect: "{{ '0-5' | bot4.hft.cpulist_intersect('4-7') }}"
          union: "{{ '0-1' | bot4.hft.cpulist_union([4, 5]) }}"
"""
    )
    out = tmp_path / "out.json"
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    ansible_playbook = Path(os.sys.executable).parent / "ansible-playbook"
    proc = subprocess.run(
        # An explicit one-host inventory: never let ansible scan a directory
        # (it would execute every executable file in it as an inventory script).
        [str(ansible_playbook), "-i", "localhost,", "-c", "local", "-e", "out=%s" % out,
         "-e", "ansible_python_interpreter=%s" % os.sys.executable, str(playbook)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(out.read_text()) == {
        "expand": [0, 1, 2, 3, 8],
        "format": "0-3,8",
        "mask": "00000000,0000ff00",
        "diff": "2-7",
        "intersect": "4-5",
        "union": "0-1,4-5",
    }
