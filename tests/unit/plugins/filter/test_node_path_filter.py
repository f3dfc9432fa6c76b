# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""node_path: a node's absolute path below hft_node_root."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter import node_path as mod


def test_a_real_node_keeps_its_paths():
    assert mod.node_path("/etc/sysctl.d/90-bot4-hft.conf") == "/etc/sysctl.d/90-bot4-hft.conf"
    assert mod.node_path("/proc/cmdline", "/") == "/proc/cmdline"
    assert mod.node_path("/proc/cmdline", "//") == "/proc/cmdline"


def test_a_node_below_a_root():
    assert mod.node_path("/etc/bot4-hft/tuned.json", "/srv/fleet/n1") == "/srv/fleet/n1/etc/bot4-hft/tuned.json"
    assert mod.node_path("/proc/1/status", "/srv/fleet/n1/") == "/srv/fleet/n1/proc/1/status"


@pytest.mark.parametrize("path, root, word", [
    ("etc/x", "/", "the path must be absolute"),
    ("/etc/x", "srv/n1", "hft_node_root must be an absolute directory"),
    (None, "/", "the path must be absolute"),
])
def test_bad_input_names_what_is_wrong(path, root, word):
    with pytest.raises(AnsibleFilterError, match=word):
        mod.node_path(path, root)


def test_the_filter_is_registered():
    assert mod.FilterModule().filters() == {"node_path": mod.node_path}
