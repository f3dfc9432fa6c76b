# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cmdline_tokens and cmdline_value: the kernel's tokenisation for roles."""

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter import cmdline as mod

LAB = ('BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID=0a1b ro console=tty0 console=ttyS0,115200n8 '
       'isolcpus=managed_irq,domain,2-3,6-7 systemd.cpu_affinity=0-1,4-5 hugepagesz=1G hugepages=0:0,1:1 '
       'dyndbg="file drivers/x.c +p" "quoted=a b"\n')


def test_tokens_as_the_kernel_splits_and_unquotes_them():
    tokens = mod.cmdline_tokens(LAB)
    assert tokens[2:4] == ["ro", "console=tty0"]
    assert "isolcpus=managed_irq,domain,2-3,6-7" in tokens
    assert tokens[-2:] == ["dyndbg=file drivers/x.c +p", "quoted=a b"]
    assert mod.cmdline_tokens("ro nosmt -- single init=/bin/sh") == ["ro", "nosmt"]
    assert mod.cmdline_tokens("") == []


def test_value_is_the_last_one_given():
    assert mod.cmdline_value(LAB, "systemd.cpu_affinity") == "0-1,4-5"
    assert mod.cmdline_value(LAB + " systemd.cpu_affinity=0-7", "systemd.cpu_affinity") == "0-7"
    assert mod.cmdline_value(LAB, "dyndbg") == "file drivers/x.c +p"
    assert mod.cmdline_value(LAB, "nohz_full") == ""
    assert mod.cmdline_value(LAB, "nohz_full", None) is None
    assert mod.cmdline_value("ro nosmt", "nosmt") == ""  # a flag has no value


def test_a_non_string_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="cmdline_tokens: the input is a command line"):
        mod.cmdline_tokens(["ro"])


def test_documented():
    here = Path(mod.__file__).resolve().parent
    for name in mod.FilterModule().filters():
        doc = yaml.safe_load((here / (name + ".yml")).read_text())
        assert doc["DOCUMENTATION"]["name"] == name
        assert "_input" in doc["DOCUMENTATION"]["options"]


def test_release_of_the_booted_kernel():
    assert mod.cmdline_release("BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=0a1b ro quiet") == "6.1.0-28-amd64"
    assert mod.cmdline_release("BOOT_IMAGE=/vmlinuz-6.1.0-28-rt-amd64 ro") == "6.1.0-28-rt-amd64"
    assert mod.cmdline_release("root=/dev/vda1 ro") is None
    with pytest.raises(AnsibleFilterError, match="cmdline_release: the input is a command line"):
        mod.cmdline_release(None)
