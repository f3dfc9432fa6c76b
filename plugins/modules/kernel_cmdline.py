#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Own a set of kernel command line arguments in the bootloader configuration
version_added: 0.1.0
description:
  - Makes the next boot's kernel command line carry exactly the ordered list O(args)
    among the arguments whose key the collection owns (O(owned_keys) plus the keys of
    O(args)); every other argument is left alone.
  - Arguments are compared as whole kernel tokens, split the way the kernel splits its
    command line (double quotes group, C(foo="a b") is one token), never as substrings
    (C(isolcpus=2-3) is not C(isolcpus=2-31), C(nosmt) is not C(nosmt=force)). Order
    is part of the comparison, since repeated keys such as C(hugepagesz)/C(hugepages)
    pair up by position.
  - "Debian and Ubuntu (O(backend=grub_dropin)): the arguments go into a drop-in under
    C(/etc/default/grub.d/) that appends them to C(GRUB_CMDLINE_LINUX). The new drop-in
    is syntax-checked with C(sh -n) before it replaces the old one; the GRUB
    configuration is regenerated into C(<grub_cfg>.new), checked with
    C(grub-script-check), its default menu entry's C(linux) line is checked to carry
    exactly the planned arguments, and only then is it renamed over O(grub_cfg). On any
    failure the previous drop-in is restored and O(grub_cfg) is left untouched. The
    configuration is also regenerated when the drop-in is already right but the default
    entry of O(grub_cfg) does not carry the arguments (an interrupted earlier run)."
  - "EL 8/9 (O(backend=grubby)): C(grubby --update-kernel=ALL --remove-args=... / --args=...)
    on every boot entry; a state file records what the collection added and which
    foreign owned arguments it replaced, so that O(state=absent) can undo exactly that."
  - An owned key set by the system's base configuration outside the collection's control
    (C(/etc/default/grub) or another drop-in for GRUB, an argument the state file does
    not record for grubby) is a conflict. The module fails naming the file, the variable
    and the argument, unless O(conflicts=warn).
  - Reports whether the running kernel (C(/proc/cmdline)) differs from the plan, so that
    a single reboot can be scheduled by the caller; this module never reboots.
author:
  - Bot4 platform team (@bot4-platform)
attributes:
  check_mode:
    support: full
    description: Computes and reports every change, including the argument lists and the reboot decision; writes nothing.
  diff_mode:
    support: full
    description: Shows the owned argument list before and after, one argument per line.
  platform:
    support: full
    platforms: posix
    description: Target OS/families that can be operated against.
options:
  args:
    description:
      - The owned kernel arguments the next boot must carry, in order (for instance the
        planner's C(kernel_args)). Each item is one token; a value with spaces is quoted
        as C(key="a b").
      - Ignored with O(state=absent).
    type: list
    elements: str
    default: []
  owned_keys:
    description:
      - Parameter names the collection owns (for instance the planner's C(kernel_arg_keys)).
        An owned key that is not in O(args) is removed from what the collection writes
        and counts as "still to remove" while the running kernel carries it.
      - The keys of O(args) are always owned.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) makes the boot configuration carry O(args).
      - V(absent) removes everything the collection added (the drop-in, or what the
        grubby state file records, restoring arguments it had replaced).
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - V(grub_dropin) for Debian and Ubuntu, V(grubby) for EL 8/9.
      - V(auto) picks the OS family's backend. The family comes from C(ID) and C(ID_LIKE) of
        C(/etc/os-release) below O(root) - V(grubby) on the RHEL family (or, without
        C(/etc/os-release), when only C(grubby) is installed), V(grub_dropin) otherwise.
      - The OS family also gives the defaults of O(grub_cfg), O(grubenv), O(mkconfig_command) and
        O(script_check_command); a value given here wins.
    type: str
    choices: [auto, grub_dropin, grubby]
    default: auto
  conflicts:
    description:
      - What to do when an owned key is set outside the collection's control.
      - V(fail) stops before any change, naming the file, variable and argument.
      - V(warn) goes on with a warning. For GRUB the foreign argument stays on the line
        next to the collection's; for grubby the collection's argument replaces it and
        O(state=absent) restores it.
      - Conflicts never stop O(state=absent).
    type: str
    choices: [fail, warn]
    default: fail
  dropin_path:
    description: The collection's GRUB drop-in (V(grub_dropin) backend).
    type: path
    default: /etc/default/grub.d/90-bot4-hft.cfg
  grub_defaults:
    description:
      - The base GRUB defaults file. It and the C(*.cfg) files of the directory
        C(<grub_defaults>.d) are sourced in the order C(grub-mkconfig) sources them to
        find conflicts.
    type: path
    default: /etc/default/grub
  grub_cfg:
    description:
      - The generated GRUB configuration that the machine boots from.
      - Default the OS family's, C(/boot/grub/grub.cfg) (Debian, Ubuntu) or C(/boot/grub2/grub.cfg) (EL).
    type: path
  grubenv:
    description:
      - The GRUB environment block (C(saved_entry), C(next_entry)) used to find the default entry.
      - Default the OS family's, C(/boot/grub/grubenv) or C(/boot/grub2/grubenv).
    type: path
  mkconfig_command:
    description:
      - The command that regenerates the GRUB configuration, as an argument list. The
        item V({output}) is replaced with the path of the new configuration
        (C(<grub_cfg>.new)); it is required.
      - C(update-grub) on Debian is C(grub-mkconfig -o /boot/grub/grub.cfg).
      - Default the OS family's, C([grub-mkconfig, -o, "{output}"]) or C([grub2-mkconfig, -o, "{output}"]).
    type: list
    elements: str
  script_check_command:
    description:
      - The GRUB script checker, as an argument list; the path of the new configuration is appended.
      - Default the OS family's, C([grub-script-check]) or C([grub2-script-check]).
    type: list
    elements: str
  grubby_command:
    description: The grubby executable (V(grubby) backend).
    type: str
    default: grubby
  state_file:
    description: Where the V(grubby) backend records what the collection added and replaced.
    type: path
    default: /var/lib/bot4-hft/kernel_cmdline.json
  kernel:
    description:
      - The kind of kernel the next boot runs (the plan's C(kernel.flavour)); V(grub_dropin) backend only.
      - V(any) leaves C(GRUB_DEFAULT) to the node's own files.
      - V(realtime) makes the newest PREEMPT_RT kernel installed under C(/boot) GRUB's default. The drop-in sets
        C(GRUB_DEFAULT) to its menu entry id, C(gnulinux-advanced-<uuid>>gnulinux-<release>-advanced-<uuid>)
        (the uuid from O(grub_probe_command)), never an index, and the regenerated configuration is checked to
        boot that kernel. Without one the module fails (in check mode it reports the switch, since the package is
        installed right before).
      - V(generic) makes the newest generic kernel the default once the collection has set the default (the
        drop-in carries C(GRUB_DEFAULT)) or when GRUB's default entry boots a PREEMPT_RT kernel; otherwise GRUB
        keeps its own choice.
      - A running kernel other than the one the next boot runs counts in RV(reboot_required).
    type: str
    choices: [any, realtime, generic]
    default: any
  kernel_release:
    description:
      - A kernel release (C(uname -r)) to make GRUB's default, instead of O(kernel); it must be installed
        under C(/boot). With O(state=absent) the drop-in then carries only C(GRUB_DEFAULT) (untune boots the
        kernel from before the first tuning while the PREEMPT_RT kernel stays installed).
      - A release that is not installed fails the module, unless O(kernel=generic), which then makes the
        newest installed generic kernel the default (with a warning).
    type: str
  grub_probe_command:
    description: The command that prints the root file system's uuid, which GRUB's menu entry ids carry.
    type: list
    elements: str
    default: [grub-probe, --target=fs_uuid, /]
  root:
    description:
      - Directory that every file path above (and C(/proc/cmdline)) is relative to.
        Commands still run on the managed node as given; tests point this at a fixture
        tree together with their own O(mkconfig_command).
    type: path
    default: /
notes:
  - The module never reboots. Feed RV(reboot_required) to the C(bot4.hft.node_reboot) role,
    which reboots once for all reasons.
  - With the V(grubby) backend, C(/etc/default/grub) is not read; on EL 9 grubby keeps
    it in step by itself.
seealso:
  - name: Kernel parameters
    description: The kernel's documentation of its command line.
    link: https://www.kernel.org/doc/html/latest/admin-guide/kernel-parameters.html
"""

EXAMPLES = r"""
- name: Own the planned kernel arguments
  bot4.hft.kernel_cmdline:
    args: "{{ hft_plan.kernel_args }}"
    owned_keys: "{{ hft_plan.kernel_arg_keys }}"
  register: __kernel_cmdline_register_apply

- name: Own a hand-written list on an EL 9 node
  bot4.hft.kernel_cmdline:
    args:
      - isolcpus=managed_irq,domain,2-3,6-7
      - nohz_full=2-3,6-7
      - rcu_nocbs=2-3,6-7
      - hugepagesz=1G
      - hugepages=4
    owned_keys: [isolcpus, nohz_full, rcu_nocbs, hugepagesz, hugepages, default_hugepagesz]
    backend: grubby

- name: Boot the distribution's PREEMPT_RT kernel with the planned arguments
  bot4.hft.kernel_cmdline:
    args: "{{ hft_plan.kernel_args }}"
    owned_keys: "{{ hft_plan.kernel_arg_keys }}"
    kernel: "{{ hft_plan.kernel.flavour }}"

- name: Remove every argument the collection added (untune)
  bot4.hft.kernel_cmdline:
    state: absent
    owned_keys: "{{ hft_plan.kernel_arg_keys }}"
"""

RETURN = r"""
changed:
  description: Whether the bootloader configuration was (or, in check mode, would be) changed. False on a re-run.
  returned: always
  type: bool
backend:
  description: The backend used (V(grub_dropin) or V(grubby)).
  returned: always
  type: str
  sample: grub_dropin
args_before:
  description: The owned arguments the collection's configuration carried before the run.
  returned: always
  type: list
  elements: str
  sample: [isolcpus=managed_irq,2-3, nohz_full=2-3]
args_after:
  description: The owned arguments it carries after the run (empty with O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: [isolcpus=managed_irq,domain,2-3,6-7, nohz_full=2-3,6-7]
args_added:
  description: Arguments in RV(args_after) that were not in RV(args_before).
  returned: always
  type: list
  elements: str
args_removed:
  description: Owned arguments that the next boot must no longer carry (from RV(args_before) and the running kernel).
  returned: always
  type: list
  elements: str
cmdline_running:
  description: The running kernel's command line (C(/proc/cmdline)).
  returned: always
  type: str
  sample: BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=0d7c... ro console=ttyS0,115200n8
reboot_required:
  description:
    - True iff the running kernel's owned arguments differ from RV(args_after) (a
      desired argument missing, an owned argument no longer desired still present, or
      the order of repeated keys differing). Owned arguments set by the base
      configuration and accepted with O(conflicts=warn) are not counted.
  returned: always
  type: bool
kernel_switch_required:
  description: The next boot runs another kernel than the running one (O(kernel), O(kernel_release)).
  returned: always
  type: bool
kernel_release_running:
  description: The running kernel's release (C(/proc/sys/kernel/osrelease)).
  returned: always
  type: str
  sample: 6.1.0-28-amd64
kernel_release_next:
  description: The release the drop-in makes the default; null when GRUB keeps its own choice.
  returned: always
  type: str
  sample: 6.1.0-28-rt-amd64
grub_default:
  description: The menu entry id the drop-in sets as C(GRUB_DEFAULT), or null.
  returned: when O(backend=grub_dropin)
  type: str
grub_default_before:
  description: The menu entry id the collection's drop-in set before the run, or null.
  returned: when O(backend=grub_dropin)
  type: str
running_missing:
  description: Desired arguments the running kernel does not carry.
  returned: always
  type: list
  elements: str
running_unexpected:
  description: Owned arguments the running kernel carries that are not desired.
  returned: always
  type: list
  elements: str
owned_keys:
  description: The owned keys in effect (O(owned_keys), the keys of O(args) and of what the collection had written).
  returned: always
  type: list
  elements: str
conflicts:
  description: Owned arguments set outside the collection's control.
  returned: always
  type: list
  elements: dict
  contains:
    arg:
      description: The argument.
      type: str
    key:
      description: Its key.
      type: str
    source:
      description: The file (or grubby boot entries) that sets it.
      type: str
    variable:
      description: The variable that carries it (for example C(GRUB_CMDLINE_LINUX)).
      type: str
actions:
  description: What was (or would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ["write /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub/grub.cfg"]
default_entry:
  description: Title of the GRUB menu entry checked (the one booted next).
  returned: when O(backend=grub_dropin) and a configuration was read or generated
  type: str
commands:
  description: The grubby invocations (argument lists) run, or that would run in check mode.
  returned: when O(backend=grubby)
  type: list
  elements: list
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.bootloader import ARGUMENT_SPEC, resolve, runner


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = resolve(module, module.params)
    module.exit_json(**runner(module, params, check=module.check_mode, diff=module._diff).apply())


if __name__ == "__main__":
    main()
