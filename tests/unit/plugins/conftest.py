# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures for the plugin tests: machine shapes as sysfs trees."""

import copy
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(UNIT / "fixtures"))

import sysfs_builder  # noqa: E402

from ansible_collections.bot4.hft.plugins.module_utils.topology import read_topology  # noqa: E402

SHAPE_NAMES = sorted(sysfs_builder.SHAPES)


@pytest.fixture(scope="session")
def shape_root(tmp_path_factory):
    """shape_root("lab") -> path of a sysfs tree for that shape (built once)."""
    built = {}

    def get(name):
        if name not in built:
            root = tmp_path_factory.mktemp("sysfs-" + name)
            sysfs_builder.build(sysfs_builder.SHAPES[name](), str(root))
            built[name] = str(root)
        return built[name]

    return get


@pytest.fixture(scope="session")
def shape_topology(shape_root):
    """shape_topology("lab") -> a fresh Topology read from the shape's tree."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = read_topology(shape_root(name))
        return copy.deepcopy(cache[name])

    return get


@pytest.fixture
def custom_shape(tmp_path):
    """custom_shape(shape) -> Topology of a modified Shape object."""

    def get(shape):
        root = tmp_path / ("custom-" + shape.name)
        sysfs_builder.build(shape, str(root))
        return read_topology(str(root))

    return get
