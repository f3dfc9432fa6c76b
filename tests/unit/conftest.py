# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by every unit test.

Importing controller code (ansible.errors, which the filter plugins need)
sets ansible-core's process-wide ``is_controller`` flag, after which
AnsibleModule.warn() goes to the display instead of the module's result.
Test modules are all imported before the first test runs, so a module test
would see the flag that some filter test's import left behind, depending on
the order. The flag as it was before any test module was imported is put back
before every test. ansible-core before 2.19 has no such flag.
"""

import pytest

try:
    from ansible.module_utils import _internal as _ansible_internal
    _IS_CONTROLLER = _ansible_internal.is_controller
except (ImportError, AttributeError):  # ansible-core < 2.19
    _ansible_internal = None


@pytest.fixture(autouse=True)
def _module_side_ansible():
    if _ansible_internal is None:
        yield
        return
    _ansible_internal.is_controller = _IS_CONTROLLER
    yield
    _ansible_internal.is_controller = _IS_CONTROLLER
