#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

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
  - bot4 platform team
attributes:
  check_mode:
    support: full
    description: Computes and reports every change, including the argument lists and the reboot decision; writes nothing.
  diff_mode:
    support: full
    description: Shows the owned argument list before and after, one argument per line.
  platform:
    platforms: posix
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
      - V(auto) picks V(grubby) on the RHEL family (from C(/etc/os-release)) or when only
        C(grubby) is installed, V(grub_dropin) otherwise.
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
    description: The generated GRUB configuration that the machine boots from.
    type: path
    default: /boot/grub/grub.cfg
  grubenv:
    description: The GRUB environment block (C(saved_entry), C(next_entry)) used to find the default entry.
    type: path
    default: /boot/grub/grubenv
  mkconfig_command:
    description:
      - The command that regenerates the GRUB configuration, as an argument list. The
        item V({output}) is replaced with the path of the new configuration
        (C(<grub_cfg>.new)); it is required.
      - C(update-grub) on Debian is C(grub-mkconfig -o /boot/grub/grub.cfg).
    type: list
    elements: str
    default: [grub-mkconfig, -o, "{output}"]
  script_check_command:
    description: The GRUB script checker, as an argument list; the path of the new configuration is appended.
    type: list
    elements: str
    default: [grub-script-check]
  grubby_command:
    description: The grubby executable (V(grubby) backend).
    type: str
    default: grubby
  state_file:
    description: Where the V(grubby) backend records what the collection added and replaced.
    type: path
    default: /var/lib/bot4-hft/kernel_cmdline.json
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

import json
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import (
    CmdlineError,
    Conflict,
    boot_matches,
    default_entry,
    diff_args,
    entry_args,
    find_conflicts,
    grubby_argv,
    kernel_args,
    missing_and_unexpected,
    normalize,
    owned_keys_for,
    parse_dropin,
    parse_grub_cfg,
    parse_grubby_info,
    parse_grubenv,
    plan_grubby,
    render_dropin,
    split_args,
    validate_args,
)

_LINUX_VAR = "GRUB_CMDLINE_LINUX"
_DEFAULT_VAR = "GRUB_CMDLINE_LINUX_DEFAULT"
# Sources each file the way grub-mkconfig does and prints the two variables after
# each one, NUL-separated, so that an owned argument can be traced to its file.
_SNAPSHOT_SCRIPT = (
    "unset GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT\n"
    "for __bot4_file do\n"
    '  . "$__bot4_file" || exit 3\n'
    "  printf '%s\\0%s\\0%s\\0' \"$__bot4_file\" \"${GRUB_CMDLINE_LINUX-}\" \"${GRUB_CMDLINE_LINUX_DEFAULT-}\"\n"
    "done\n"
)
_RHEL_IDS = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"}


class StepError(Exception):
    """A step of an apply failed; the message says which and why."""


def _under(root, path):
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _read(path):
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _atomic_write(path, text, mode=0o644):
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _copy_mode(reference, path):
    """Give ``path`` the mode and owner of ``reference`` (the file it replaces), if that exists.

    grub-mkconfig rewrites grub.cfg in place and so keeps its mode; a renamed new
    file must carry the same mode (often 0600 or 0444: it may hold password hashes).
    """
    try:
        st = os.stat(reference)
    except OSError:
        return
    os.chmod(path, stat.S_IMODE(st.st_mode))
    try:
        os.chown(path, st.st_uid, st.st_gid)
    except OSError:
        pass


def _lines(args):
    return "".join(a + "\n" for a in args)


class Runner(object):
    """Shared state of one module run."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.root = module.params["root"]
        self.state = module.params["state"]
        try:
            self.args = validate_args(module.params["args"]) if self.state == "present" else []
        except CmdlineError as exc:
            module.fail_json(msg="args: %s" % exc)
        self.owned = owned_keys_for(self.args, module.params["owned_keys"])
        self.cmdline_running = (_read(_under(self.root, "/proc/cmdline")) or "").strip()
        self.running = kernel_args(self.cmdline_running)
        self.actions = []
        self.result = {}

    def path(self, path):
        return _under(self.root, path)

    def run(self, argv, step, check_rc=True):
        rc, out, err = self.module.run_command(argv)
        if check_rc and rc != 0:
            raise StepError("%s failed (rc=%d): %s" % (step, rc, (err or out).strip()))
        return rc, out, err

    def report_conflicts(self, conflicts, hint):
        if not conflicts:
            return
        if self.state == "present" and self.params["conflicts"] == "fail":
            self.module.fail_json(
                msg="; ".join(c.message() for c in conflicts) + ". " + hint,
                conflicts=[c.to_dict() for c in conflicts],
                changed=False,
            )
        for conflict in conflicts:
            self.module.warn(conflict.message() + " (left in place, conflicts=warn)")

    def finish(self, args_before, args_after, head=(), tail=()):
        missing, unexpected = missing_and_unexpected(self.running, args_after, self.owned, head, tail)
        reboot = not boot_matches(self.running, args_after, self.owned, head, tail)
        removed = diff_args(args_before, args_after)["removed"]
        for token in unexpected:
            if token not in [normalize(r) for r in removed]:
                removed.append(token)
        result = dict(
            changed=bool(self.actions),
            backend=self.backend,
            args_before=list(args_before),
            args_after=list(args_after),
            args_added=diff_args(args_before, args_after)["added"],
            args_removed=removed,
            cmdline_running=self.cmdline_running,
            reboot_required=reboot,
            running_missing=missing,
            running_unexpected=unexpected,
            owned_keys=self.owned,
            actions=list(self.actions),
        )
        result.update(self.result)
        if self.module._diff:
            result["diff"] = dict(
                before=_lines(args_before),
                after=_lines(args_after),
                before_header="%s: kernel arguments owned by bot4.hft (before)" % self.where,
                after_header="%s: kernel arguments owned by bot4.hft (after)" % self.where,
            )
        return result


class GrubDropin(Runner):
    backend = "grub_dropin"

    def __init__(self, module):
        super(GrubDropin, self).__init__(module)
        self.dropin_name = module.params["dropin_path"]
        self.dropin = self.path(self.dropin_name)
        self.grub_cfg_name = module.params["grub_cfg"]
        self.grub_cfg = self.path(self.grub_cfg_name)
        self.where = self.dropin_name
        command = module.params["mkconfig_command"]
        if not command or "{output}" not in command:
            module.fail_json(msg="mkconfig_command must contain the item '{output}', got %r" % (command,))

    # -- reading -------------------------------------------------------------
    def base_files(self):
        defaults = self.path(self.params["grub_defaults"])
        files = [defaults] if os.path.isfile(defaults) else []
        directory = defaults + ".d"
        if os.path.isdir(directory):
            mine = os.path.realpath(self.dropin)
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if name.endswith(".cfg") and os.path.isfile(path) and os.path.realpath(path) != mine:
                    files.append(path)
        return files

    def snapshots(self):
        files = self.base_files()
        if not files:
            return []
        shell = self.module.get_bin_path("sh", required=True)
        rc, out, err = self.module.run_command([shell, "-c", _SNAPSHOT_SCRIPT, "sh"] + files)
        if rc != 0:
            self.module.fail_json(
                msg="sourcing the GRUB defaults (%s) failed (rc=%d): %s" % (", ".join(files), rc, err.strip()),
                changed=False,
            )
        fields = out.split("\0")
        snapshots = []
        for i in range(0, len(fields) - 2, 3):
            source = fields[i]
            if self.root not in ("", "/") and source.startswith(self.root.rstrip("/") + "/"):
                source = source[len(self.root.rstrip("/")):]
            snapshots.append((source, {_LINUX_VAR: fields[i + 1], _DEFAULT_VAR: fields[i + 2]}))
        return snapshots

    def checked_entry(self, text):
        """(entry, title) of the entry GRUB boots next in the config ``text``."""
        config = parse_grub_cfg(text)
        env = parse_grubenv(_read(self.path(self.params["grubenv"])) or "")
        entry, selector = default_entry(config, env)
        if entry is None:
            fallback = next((e for e in config.entries if e.kind == "menuentry"), None)
            if fallback is not None:
                self.module.warn(
                    "the default entry %r is not in %s; checking the first menu entry %r, which GRUB falls back to"
                    % (selector, self.grub_cfg_name, fallback.title)
                )
            entry = fallback
        return entry

    # -- applying --------------------------------------------------------------
    def write_dropin(self, text):
        directory = os.path.dirname(self.dropin)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        shell = self.module.get_bin_path("sh", required=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.dropin) + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            self.run([shell, "-n", tmp], "sh -n on the new drop-in")
            os.rename(tmp, self.dropin)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def restore_dropin(self, old_text):
        if old_text is None:
            if os.path.exists(self.dropin):
                os.unlink(self.dropin)
        else:
            _atomic_write(self.dropin, old_text)

    def regenerate(self, desired, head, tail):
        new = self.grub_cfg + ".new"
        argv = [new if item == "{output}" else item for item in self.params["mkconfig_command"]]
        argv[0] = self.module.get_bin_path(argv[0], required=True) if "/" not in argv[0] else argv[0]
        check = list(self.params["script_check_command"])
        check[0] = self.module.get_bin_path(check[0], required=True) if "/" not in check[0] else check[0]
        try:
            self.run(argv, "regenerating the GRUB configuration (%s)" % " ".join(argv))
            if not os.path.isfile(new):
                raise StepError("%s did not write %s" % (argv[0], new))
            self.run(check + [new], "%s on the new GRUB configuration" % " ".join(check))
            text = _read(new) or ""
            entry = self.checked_entry(text)
            if entry is None:
                raise StepError("the new GRUB configuration has no menu entry to boot")
            tokens = entry_args(entry)
            if not boot_matches(tokens, desired, self.owned, head, tail):
                missing, unexpected = missing_and_unexpected(tokens, desired, self.owned, head, tail)
                raise StepError(
                    "the new GRUB configuration's default entry %r does not carry the planned arguments "
                    "(missing: %s; not planned: %s; linux line: %s)"
                    % (entry.title, " ".join(missing) or "-", " ".join(unexpected) or "-", entry.linux)
                )
            _copy_mode(self.grub_cfg, new)
            os.rename(new, self.grub_cfg)
            self.result["default_entry"] = entry.title
        finally:
            if os.path.exists(new):
                os.unlink(new)

    def apply(self):
        state = self.state
        old_text = _read(self.dropin)
        if old_text is not None:
            try:
                old_args = parse_dropin(old_text)
            except CmdlineError as exc:
                self.module.fail_json(msg="%s: %s" % (self.dropin_name, exc), changed=False)
            if old_args is None:
                self.module.fail_json(
                    msg="%s exists but is not managed by bot4.hft (its first line is not %r); "
                    "move it away or choose another dropin_path" % (self.dropin_name, render_dropin([]).splitlines()[0]),
                    changed=False,
                )
        else:
            old_args = []
        self.owned = owned_keys_for(old_args, self.owned)
        desired = list(self.args) if state == "present" else []
        new_text = render_dropin(desired) if state == "present" else None

        snapshots = self.snapshots()
        conflicts = find_conflicts(snapshots, self.owned)
        self.result["conflicts"] = [c.to_dict() for c in conflicts]
        self.report_conflicts(
            conflicts,
            "Remove the argument there so that only the collection sets it, or set conflicts=warn.",
        )
        final = snapshots[-1][1] if snapshots else {}
        head = split_args(final.get(_LINUX_VAR, ""))
        tail = split_args(final.get(_DEFAULT_VAR, ""))

        current_cfg = _read(self.grub_cfg)
        cfg_ok = False
        if current_cfg is not None:
            entry = self.checked_entry(current_cfg)
            if entry is not None:
                self.result["default_entry"] = entry.title
                cfg_ok = boot_matches(entry_args(entry), desired, self.owned, head, tail)
        dropin_change = old_text != new_text
        if dropin_change:
            self.actions.append(("write %s" if new_text is not None else "remove %s") % self.dropin_name)
        if dropin_change or not cfg_ok:
            reason = "" if dropin_change else " (its default entry does not carry the planned arguments)"
            self.actions.append("regenerate %s%s" % (self.grub_cfg_name, reason))

        if self.actions and not self.module.check_mode:
            try:
                if dropin_change:
                    if new_text is None:
                        os.unlink(self.dropin)
                    else:
                        self.write_dropin(new_text)
                self.regenerate(desired, head, tail)
            except (StepError, OSError) as exc:
                restored = ""
                if dropin_change:
                    try:
                        self.restore_dropin(old_text)
                        restored = "; the previous %s was restored" % self.dropin_name
                    except OSError as restore_exc:
                        restored = "; restoring the previous %s ALSO failed: %s" % (self.dropin_name, restore_exc)
                self.module.fail_json(
                    msg="%s%s; %s was left untouched" % (to_native(exc), restored, self.grub_cfg_name),
                    changed=False,
                    actions=self.actions,
                )
        return self.finish(old_args, desired, head, tail)


class Grubby(Runner):
    backend = "grubby"

    def __init__(self, module):
        super(Grubby, self).__init__(module)
        self.state_name = module.params["state_file"]
        self.state_path = self.path(self.state_name)
        self.where = "grubby (all boot entries)"
        self.grubby = module.get_bin_path(module.params["grubby_command"], required=True)

    def read_state(self):
        text = _read(self.state_path)
        if text is None:
            return None
        try:
            data = json.loads(text)
            return {"added": list(data.get("added", [])), "replaced": list(data.get("replaced", []))}
        except (ValueError, AttributeError, TypeError) as exc:
            self.module.fail_json(msg="%s is not a bot4.hft state file: %s" % (self.state_name, exc), changed=False)

    def kernels(self):
        try:
            _rc, out, _err = self.run([self.grubby, "--info=ALL"], "grubby --info=ALL")
        except StepError as exc:
            self.module.fail_json(msg=str(exc), changed=False)
        kernels = parse_grubby_info(out)
        if not kernels:
            self.module.fail_json(msg="grubby --info=ALL listed no boot entry", changed=False)
        return kernels

    def apply(self):
        recorded = self.read_state()
        added = recorded["added"] if recorded else []
        replaced = recorded["replaced"] if recorded else []
        self.owned = owned_keys_for(added + replaced, self.owned)
        kernels = self.kernels()
        tokens = [kernel_args(k.get("args", "")) for k in kernels]
        plan = plan_grubby(tokens, self.args, self.owned, added, replaced, self.state)
        conflicts = [Conflict(t, "the grubby boot entries", "args") for t in plan.conflicts]
        self.result["conflicts"] = [c.to_dict() for c in conflicts]
        self.report_conflicts(
            conflicts,
            "Remove it with grubby --update-kernel=ALL --remove-args=... so that only the collection sets it, "
            "or set conflicts=warn (the collection's argument then replaces it until state=absent).",
        )
        argvs = grubby_argv(self.grubby, plan.remove, plan.add)
        self.result["commands"] = argvs
        self.actions.extend(" ".join(argv[1:]) for argv in argvs)
        if plan.state_after is None:
            if recorded is not None:
                self.actions.append("remove %s" % self.state_name)
        elif plan.state_after != recorded:
            self.actions.append("record %s" % self.state_name)

        if self.actions and not self.module.check_mode:
            try:
                for argv in argvs:
                    self.run(argv, " ".join(argv))
                after = [kernel_args(k.get("args", "")) for k in self.kernels()]
                expected = plan.args_after
                bad = [
                    k.get("kernel", k.get("index", "?"))
                    for k, t in zip(kernels, after)
                    if not boot_matches(t, expected, self.owned, head=plan.add if self.state == "absent" else ())
                ]
                if bad:
                    raise StepError("after grubby, these boot entries do not carry the planned arguments: %s" % ", ".join(bad))
                if plan.state_after is None:
                    if os.path.exists(self.state_path):
                        os.unlink(self.state_path)
                else:
                    directory = os.path.dirname(self.state_path)
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755)
                    _atomic_write(self.state_path, json.dumps(plan.state_after, indent=2, sort_keys=True) + "\n")
            except (StepError, OSError) as exc:
                self.module.fail_json(msg=to_native(exc), changed=True, actions=self.actions, commands=argvs)
        head = replaced if self.state == "absent" else ()
        return self.finish(plan.args_before, plan.args_after, head=head)


def _pick_backend(module):
    backend = module.params["backend"]
    if backend != "auto":
        return backend
    release = _read(_under(module.params["root"], "/etc/os-release")) or ""
    ids = set()
    for line in release.splitlines():
        if line.startswith(("ID=", "ID_LIKE=")):
            ids.update(line.split("=", 1)[1].strip().strip('"').split())
    if ids & _RHEL_IDS:
        return "grubby"
    if ids:
        return "grub_dropin"
    if module.get_bin_path(module.params["grubby_command"]) and not module.get_bin_path("grub-mkconfig"):
        return "grubby"
    return "grub_dropin"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            args=dict(type="list", elements="str", default=[]),
            owned_keys=dict(type="list", elements="str", default=[], no_log=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backend=dict(type="str", choices=["auto", "grub_dropin", "grubby"], default="auto"),
            conflicts=dict(type="str", choices=["fail", "warn"], default="fail"),
            dropin_path=dict(type="path", default="/etc/default/grub.d/90-bot4-hft.cfg"),
            grub_defaults=dict(type="path", default="/etc/default/grub"),
            grub_cfg=dict(type="path", default="/boot/grub/grub.cfg"),
            grubenv=dict(type="path", default="/boot/grub/grubenv"),
            mkconfig_command=dict(type="list", elements="str", default=["grub-mkconfig", "-o", "{output}"]),
            script_check_command=dict(type="list", elements="str", default=["grub-script-check"]),
            grubby_command=dict(type="str", default="grubby"),
            state_file=dict(type="path", default="/var/lib/bot4-hft/kernel_cmdline.json"),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    backend = _pick_backend(module)
    runner = GrubDropin(module) if backend == "grub_dropin" else Grubby(module)
    module.exit_json(**runner.apply())


if __name__ == "__main__":
    main()
