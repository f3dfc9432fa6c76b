# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel command-line filters: the collection's one tokenizer
(plugins/module_utils/kernel_cmdline.py) for templates and roles.
Documentation for each filter is in the YAML file of the same name."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import (
    arg_value,
    boot_image_release,
    kernel_args,
    normalize,
)


def _text(value, name):
    if not isinstance(value, str):
        raise AnsibleFilterError("%s: the input is a command line (a string), got %s" % (name, type(value).__name__))
    return value


def cmdline_tokens(value):
    """'a=1 b="x y" -- init' -> ['a=1', 'b=x y']: the kernel's own arguments,
    split and unquoted as the kernel does."""
    return [normalize(token) for token in kernel_args(_text(value, "cmdline_tokens"))]


def cmdline_value(value, key, default=""):
    """The value of the last ``key=`` argument (the one the kernel uses), else ``default``."""
    return arg_value(kernel_args(_text(value, "cmdline_value")), key, default)


def cmdline_release(value):
    """The release of the kernel a command line booted (its BOOT_IMAGE=), or None."""
    return boot_image_release(_text(value, "cmdline_release"))


class FilterModule:
    """bot4.hft kernel command-line filters."""

    def filters(self):
        return {"cmdline_tokens": cmdline_tokens, "cmdline_value": cmdline_value, "cmdline_release": cmdline_release}
