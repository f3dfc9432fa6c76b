# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Machines captured with capture_sysfs.py (tests/unit/fixtures/trees/*.tar.gz):
each is read, round-tripped and planned with a default profile."""

import json
import tarfile
from pathlib import Path

import pytest
import sysfs_builder

from ansible_collections.bot4.hft.plugins.module_utils.planner import ProfileError, plan
from ansible_collections.bot4.hft.plugins.module_utils.topology import Topology, read_topology

TREES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "trees").glob("*.tar.gz"))


def test_there_are_captured_trees():
    assert TREES, "no captured trees in tests/unit/fixtures/trees"


@pytest.mark.parametrize("tarball", TREES, ids=[t.name for t in TREES])
def test_captured_tree(tmp_path, tarball):
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            assert not member.name.startswith("/") and ".." not in member.name.split("/"), member.name
        sysfs_builder.extract_tree(tar, tmp_path)
    topo = read_topology(str(tmp_path))
    data = topo.to_dict()
    assert Topology.from_dict(json.loads(json.dumps(data))).to_dict() == data
    assert sorted(c for core in topo.cores() for c in core) == topo.cpus_online
    try:
        result = plan({"numa": {"nic_locality": "ignore"}}, topo)
    except ProfileError as exc:
        # a tiny machine may have nothing to isolate; anything else is a bug
        assert all("isolate" in reason or "pages are not supported" in reason for _unused, reason in exc.errors), exc
    else:
        assert result["cpu"]["reserved"]
