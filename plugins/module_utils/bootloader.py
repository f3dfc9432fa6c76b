# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootloader on the node: reading it, and changing it to own a set of kernel arguments.

The two backends (a GRUB drop-in with a checked grub-mkconfig on Debian and
Ubuntu, grubby on EL) read the node's files below a root and run commands
through an AnsibleModule.  The module ``bot4.hft.kernel_cmdline`` applies;
``read_bootloader`` is the same run in check mode, for
``bot4.hft.node_state_info`` (what the bootloader would need to change, and
whether the running kernel carries the planned arguments).  The decisions
themselves are the pure functions of ``kernel_cmdline.py``.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.bot4.hft.plugins.module_utils import kernel_cmdline as cmdline

# The kernel_cmdline module's parameters (its DOCUMENTATION describes them).
# None: the OS family's setting (BOOTLOADERS of kernel_cmdline.py).
ARGUMENT_SPEC = dict(
    args=dict(type="list", elements="str", default=[]),
    owned_keys=dict(type="list", elements="str", default=[], no_log=False),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    backend=dict(type="str", choices=["auto", "grub_dropin", "grubby"], default="auto"),
    conflicts=dict(type="str", choices=["fail", "warn"], default="fail"),
    dropin_path=dict(type="path", default="/etc/default/grub.d/90-bot4-hft.cfg"),
    grub_defaults=dict(type="path", default="/etc/default/grub"),
    grub_cfg=dict(type="path"),
    grubenv=dict(type="path"),
    mkconfig_command=dict(type="list", elements="str"),
    script_check_command=dict(type="list", elements="str"),
    grubby_command=dict(type="str", default="grubby"),
    state_file=dict(type="path", default="/var/lib/bot4-hft/kernel_cmdline.json"),
    kernel=dict(type="str", choices=["any", "realtime", "generic"], default="any"),
    kernel_release=dict(type="str"),
    grub_probe_command=dict(type="list", elements="str", default=["grub-probe", "--target=fs_uuid", "/"]),
    root=dict(type="path", default="/"),
)
_SETTINGS = ("backend", "grub_cfg", "grubenv", "mkconfig_command", "script_check_command")


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
    """Shared state of one run: ``params`` are the kernel_cmdline module's, with the
    bootloader settings resolved (``resolve``); ``check`` reads and reports only."""

    def __init__(self, module, params, check=False, diff=False):
        self.module = module
        self.params = params
        self.check = check
        self.diff = diff
        self.root = params["root"]
        self.state = params["state"]
        try:
            self.args = cmdline.validate_args(params["args"]) if self.state == "present" else []
        except cmdline.CmdlineError as exc:
            module.fail_json(msg="args: %s" % exc)
        self.owned = cmdline.owned_keys_for(self.args, params["owned_keys"])
        self.cmdline_running = (_read(_under(self.root, "/proc/cmdline")) or "").strip()
        self.running = cmdline.kernel_args(self.cmdline_running)
        self.release_running = (_read(_under(self.root, "/proc/sys/kernel/osrelease")) or "").strip() or None
        # The release the next boot must run (kernel, kernel_release), when one is set;
        # kernel_pending: a real-time kernel is wanted but none is installed yet (check mode).
        self.release_wanted = None
        self.kernel_pending = False
        self.actions = []
        self.result = {}
        self.setup()

    def setup(self):
        """The backend's own paths and commands."""

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
        missing, unexpected = cmdline.missing_and_unexpected(self.running, args_after, self.owned, head, tail)
        reboot = not cmdline.boot_matches(self.running, args_after, self.owned, head, tail)
        kernel_switch = self.kernel_pending or (
            self.release_wanted is not None and self.release_wanted != self.release_running)
        removed = cmdline.diff_args(args_before, args_after)["removed"]
        for token in unexpected:
            if token not in [cmdline.normalize(r) for r in removed]:
                removed.append(token)
        result = dict(
            changed=bool(self.actions),
            backend=self.backend,
            args_before=list(args_before),
            args_after=list(args_after),
            args_added=cmdline.diff_args(args_before, args_after)["added"],
            args_removed=removed,
            cmdline_running=self.cmdline_running,
            reboot_required=reboot or kernel_switch,
            kernel_switch_required=kernel_switch,
            kernel_release_running=self.release_running,
            kernel_release_next=self.release_wanted,
            running_missing=missing,
            running_unexpected=unexpected,
            owned_keys=self.owned,
            actions=list(self.actions),
        )
        result.update(self.result)
        if self.diff:
            result["diff"] = dict(
                before=_lines(args_before),
                after=_lines(args_after),
                before_header="%s: kernel arguments owned by bot4.hft (before)" % self.where,
                after_header="%s: kernel arguments owned by bot4.hft (after)" % self.where,
            )
        return result


class GrubDropin(Runner):
    backend = "grub_dropin"

    def setup(self):
        params = self.params
        self.dropin_name = params["dropin_path"]
        self.dropin = self.path(self.dropin_name)
        self.grub_cfg_name = params["grub_cfg"]
        self.grub_cfg = self.path(self.grub_cfg_name)
        self.where = self.dropin_name
        command = params["mkconfig_command"]
        if not command or "{output}" not in command:
            self.module.fail_json(msg="mkconfig_command must contain the item '{output}', got %r" % (command,))

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
        config = cmdline.parse_grub_cfg(text)
        env = cmdline.parse_grubenv(_read(self.path(self.params["grubenv"])) or "")
        entry, selector = cmdline.default_entry(config, env)
        if entry is None:
            fallback = next((e for e in config.entries if e.kind == "menuentry"), None)
            if fallback is not None:
                self.module.warn(
                    "the default entry %r is not in %s; checking the first menu entry %r, which GRUB falls back to"
                    % (selector, self.grub_cfg_name, fallback.title)
                )
            entry = fallback
        return entry

    # -- the default kernel ----------------------------------------------------
    def boot_releases(self):
        try:
            names = os.listdir(self.path("/boot"))
        except OSError:
            names = []
        return cmdline.installed_releases(names)

    def wanted_release(self, pinned_before, current_entry):
        """The release the drop-in makes GRUB's default, or None to leave GRUB_DEFAULT to the node.

        ``kernel_release`` names one (untune: the kernel from before the first
        tuning). ``realtime``: the newest installed PREEMPT_RT kernel.
        ``generic``: the newest installed generic kernel, once the collection
        has set the default (``pinned_before``) or when GRUB's default boots a
        PREEMPT_RT kernel; otherwise GRUB keeps its own choice.
        """
        params = self.params
        releases = self.boot_releases()
        if params["kernel_release"]:
            release = params["kernel_release"]
            if release in releases:
                return release
            if params["kernel"] != "generic":
                self.module.fail_json(
                    msg="kernel_release: /boot/vmlinuz-%s is not installed (installed: %s)"
                    % (release, ", ".join(releases) or "none"), changed=False)
            # Removed since (apt autoremove): the newest generic kernel instead.
            self.module.warn("kernel_release: /boot/vmlinuz-%s is not installed any more; "
                             "making the newest generic kernel the default instead" % release)
            pinned_before = pinned_before or "kernel_release"
        # absent (untune): only the generic kernel can be asked for.
        kind = params["kernel"] if self.state == "present" or params["kernel"] == "generic" else "any"
        if kind == "any":
            return None
        if kind == "generic":
            current = cmdline.entry_release(current_entry) if current_entry is not None else None
            if pinned_before is None and not (current and cmdline.is_realtime_release(current)):
                return None
        release = cmdline.pick_kernel(releases, kind)
        if release is None:
            what = "PREEMPT_RT" if kind == "realtime" else "generic (non-PREEMPT_RT)"
            if self.check and kind == "realtime":
                # The package is installed right before this module runs.
                self.kernel_pending = True
                self.actions.append("make the newest %s kernel the GRUB default (none is installed yet)" % what)
                return None
            self.module.fail_json(
                msg="kernel=%s: no %s kernel is installed under /boot (installed: %s)"
                % (kind, what, ", ".join(releases) or "none"), changed=False)
        return release

    def entry_id(self, release):
        argv = list(self.params["grub_probe_command"])
        argv[0] = self.module.get_bin_path(argv[0], required=True) if "/" not in argv[0] else argv[0]
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.module.fail_json(msg="%s failed (rc=%d), so the menu entry of %s is unknown: %s"
                                  % (" ".join(argv), rc, release, (err or out).strip()), changed=False)
        try:
            return cmdline.menu_entry_id(out.strip(), release)
        except cmdline.CmdlineError as exc:
            self.module.fail_json(msg="%s: %s" % (" ".join(argv), exc), changed=False)

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
            booted = cmdline.entry_release(entry)
            if self.release_wanted is not None and booted != self.release_wanted:
                raise StepError(
                    "the new GRUB configuration's default entry %r boots %s, not %s (GRUB_DEFAULT=%s)"
                    % (entry.title, booted or "no kernel", self.release_wanted, self.result.get("grub_default"))
                )
            tokens = cmdline.entry_args(entry)
            if not cmdline.boot_matches(tokens, desired, self.owned, head, tail):
                missing, unexpected = cmdline.missing_and_unexpected(tokens, desired, self.owned, head, tail)
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
                old_args = cmdline.parse_dropin(old_text)
            except cmdline.CmdlineError as exc:
                self.module.fail_json(msg="%s: %s" % (self.dropin_name, exc), changed=False)
            if old_args is None:
                self.module.fail_json(
                    msg="%s exists but is not managed by bot4.hft (its first line is not %r); "
                    "move it away or choose another dropin_path"
                    % (self.dropin_name, cmdline.render_dropin([]).splitlines()[0]),
                    changed=False,
                )
        else:
            old_args = []
        self.owned = cmdline.owned_keys_for(old_args, self.owned)
        desired = list(self.args) if state == "present" else []
        pinned_before = cmdline.parse_dropin_default(old_text) if old_text is not None else None
        self.result["grub_default_before"] = pinned_before
        current_cfg = _read(self.grub_cfg)
        current_entry = self.checked_entry(current_cfg) if current_cfg is not None else None
        self.release_wanted = self.wanted_release(pinned_before, current_entry)
        grub_default = self.entry_id(self.release_wanted) if self.release_wanted is not None else None
        self.result["grub_default"] = grub_default
        if state == "present" or grub_default is not None:
            new_text = cmdline.render_dropin(desired, grub_default)
        else:
            new_text = None

        snapshots = self.snapshots()
        conflicts = cmdline.find_conflicts(snapshots, self.owned)
        self.result["conflicts"] = [c.to_dict() for c in conflicts]
        self.report_conflicts(
            conflicts,
            "Remove the argument there so that only the collection sets it, or set conflicts=warn.",
        )
        final = snapshots[-1][1] if snapshots else {}
        head = cmdline.split_args(final.get(_LINUX_VAR, ""))
        tail = cmdline.split_args(final.get(_DEFAULT_VAR, ""))

        args_ok = kernel_ok = False
        entry = current_entry
        if entry is not None:
            self.result["default_entry"] = entry.title
            args_ok = cmdline.boot_matches(cmdline.entry_args(entry), desired, self.owned, head, tail)
            kernel_ok = self.release_wanted is None or cmdline.entry_release(entry) == self.release_wanted
        dropin_change = old_text != new_text
        if dropin_change:
            self.actions.append(("write %s" if new_text is not None else "remove %s") % self.dropin_name)
        if dropin_change or not (args_ok and kernel_ok):
            reason = ""
            if not dropin_change:
                reason = (" (its default entry does not carry the planned arguments)" if not args_ok
                          else " (its default entry does not boot %s)" % self.release_wanted)
            self.actions.append("regenerate %s%s" % (self.grub_cfg_name, reason))

        if self.actions and not self.check:
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

    def setup(self):
        self.state_name = self.params["state_file"]
        self.state_path = self.path(self.state_name)
        self.where = "grubby (all boot entries)"
        self.grubby = self.module.get_bin_path(self.params["grubby_command"], required=True)

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
        kernels = cmdline.parse_grubby_info(out)
        if not kernels:
            self.module.fail_json(msg="grubby --info=ALL listed no boot entry", changed=False)
        return kernels

    def apply(self):
        if self.params["kernel"] == "realtime" or self.params["kernel_release"]:
            # The generic kernel is GRUB's own choice here: the collection never sets it.
            self.module.fail_json(
                msg="kernel=%s: the grubby backend does not set the default kernel; only grub_dropin does"
                % (self.params["kernel_release"] or self.params["kernel"]), changed=False)
        recorded = self.read_state()
        added = recorded["added"] if recorded else []
        replaced = recorded["replaced"] if recorded else []
        self.owned = cmdline.owned_keys_for(added + replaced, self.owned)
        kernels = self.kernels()
        tokens = [cmdline.kernel_args(k.get("args", "")) for k in kernels]
        plan = cmdline.plan_grubby(tokens, self.args, self.owned, added, replaced, self.state)
        conflicts = [cmdline.Conflict(t, "the grubby boot entries", "args") for t in plan.conflicts]
        self.result["conflicts"] = [c.to_dict() for c in conflicts]
        self.report_conflicts(
            conflicts,
            "Remove it with grubby --update-kernel=ALL --remove-args=... so that only the collection sets it, "
            "or set conflicts=warn (the collection's argument then replaces it until state=absent).",
        )
        argvs = cmdline.grubby_argv(self.grubby, plan.remove, plan.add)
        self.result["commands"] = argvs
        self.actions.extend(" ".join(argv[1:]) for argv in argvs)
        if plan.state_after is None:
            if recorded is not None:
                self.actions.append("remove %s" % self.state_name)
        elif plan.state_after != recorded:
            self.actions.append("record %s" % self.state_name)

        if self.actions and not self.check:
            try:
                for argv in argvs:
                    self.run(argv, " ".join(argv))
                after = [cmdline.kernel_args(k.get("args", "")) for k in self.kernels()]
                expected = plan.args_after
                bad = [
                    k.get("kernel", k.get("index", "?"))
                    for k, t in zip(kernels, after)
                    if not cmdline.boot_matches(t, expected, self.owned, head=plan.add if self.state == "absent" else ())
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


def resolve(module, params):
    """``params`` with the bootloader settings left unset taken from the node's OS family.

    The family comes from ``/etc/os-release`` below the root; a node without one
    counts as EL when only grubby is installed, else as Debian.
    """
    family = cmdline.os_family(_read(_under(params["root"], "/etc/os-release")) or "")
    if family is None and module.get_bin_path(params["grubby_command"]) and not module.get_bin_path("grub-mkconfig"):
        family = "RedHat"
    resolved = dict(params)
    resolved.update(cmdline.bootloader_settings(family, **{key: params.get(key) for key in _SETTINGS}))
    return resolved


def runner(module, params, check=False, diff=False):
    """The backend that handles ``params`` (resolved)."""
    backend = GrubDropin if params["backend"] == "grub_dropin" else Grubby
    return backend(module, params, check=check, diff=diff)


def read_bootloader(module, **given):
    """What the bootloader needs to change to carry ``args`` (check mode: nothing is written).

    ``given``: parameters of the kernel_cmdline module (the others take their
    defaults).  Returns its result without ``changed``: ``actions`` (what the
    bootloader configuration needs changed, empty when it carries the
    arguments), ``reboot_required``, ``running_missing`` and
    ``running_unexpected`` (the running kernel's owned arguments against
    ``args``), ``args_after``, ``backend``, ``conflicts`` ...  A conflict with
    ``conflicts=fail`` fails the module, as the kernel_cmdline module does.
    """
    params = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    params.update((key, value) for key, value in given.items() if value is not None)
    result = runner(module, resolve(module, params), check=True).apply()
    result.pop("changed", None)
    return result
