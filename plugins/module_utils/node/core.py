# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node applier's common parts: its constants, the context every section
reads through (paths below a root, check mode), and a section's outcome
(changes, notices, errors) together with the one writer that carries out what
the sections decided.

The applier brings the runtime part of a bot4.hft node plan (``plan.runtime``)
into the node: what the kernel forgets at every boot.  It runs as the module
bot4.hft.node_state and, at every boot, as ``bot4-hft-runtime`` (the same
package, installed on the node by the housekeeping role).

Every section (``section_<section>`` in its concern's file) is split in
three, after ``<section>_settings(cfg)`` has checked its configuration:

- ``read_<section>(ctx, cfg) -> current``: reads the values the section needs
  (plain dicts and lists, nothing decided);
- ``decide_<section>(cfg, current) -> {"actions": [...], ...}``: pure, no I/O,
  deterministic: what to write, in order, and the section's report data;
- ``Section.carry_out(actions)`` here: writes, reads back and records.  It
  refuses any path that does not resolve below the directories its section
  owns (``OWNED``).  In check mode it records what it would write and writes
  nothing.

An action is a dict with a ``kind``:

- ``set``: write ``after`` (or ``value`` when what is written differs from
  what the file then reads) to ``path``, read it back and compare it with
  ``after`` as ``compare`` says (``COMPARE``); record the change ``before`` ->
  read-back, or an error.  ``accept_eio``: an EIO from the write is the
  kernel keeping the value (managed IRQs): outcome ``eio``, no error.
- ``write``: write ``after`` to ``path`` without reading it back; a failure is
  a notice (``on_failure``, a %-template of path, value and reason).  The
  section reads back itself (hugepage pools: after the writes, and after the
  retry).
- ``modprobe``: load ``module`` and expect ``path`` to appear.
- ``affinity``: set the CPUs of the kernel thread ``pid`` (named ``comm``) to
  ``after``, read them back.  The thread is read again just before: a thread
  gone is skipped, and anything that is no longer that kernel thread, or a
  user-space process, is refused.  With ``task: "user"`` (the sweep), the
  same for a user-space thread: a kernel thread is refused.
- ``error``, ``notice``, ``skip``: record ``text``.
- a kind of the section's own (``steps``), for ordered multi-step changes
  that re-read the node between their writes (dpdk binding).

``stop``: when the action fails or is refused, the actions after it are not
carried out (outcome ``not run``).

Only the Python standard library is used, so it runs on a bare node.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import subprocess

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import format_cpulist, parse_cpulist, parse_mask

PROG = "bot4-hft-runtime"
CONFIG_FORMAT = 1
DEFAULT_CONFIG = "/etc/bot4-hft/runtime.d"
DEFAULT_STATE_DIR = "/run/bot4-hft"

SECTIONS = (
    "cpu_offline",
    "hugepages",
    "dpdk",
    "sysctl",
    "thp",
    "ksm",
    "irq",
    "workqueue",
    "kthread",
    "sweep",
    "rps",
    "cpufreq",
    "cpuidle",
    "energy_perf_bias",
    "epp",
    "min_perf_pct",
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_WOULD_CHANGE = 2

# x86 energy_perf_bias names (as the kernel's sysfs accepts them) and their values.
EPB_VALUES = {
    "performance": 0,
    "balance-performance": 4,
    "normal": 6,
    "balance-power": 8,
    "power": 15,
}

_HUGEPAGE_DIR_RE = re.compile(r"^hugepages-([0-9]+)kB$")
_NODE_DIR_RE = re.compile(r"^node([0-9]+)$")
_STATE_DIR_RE = re.compile(r"^state([0-9]+)$")

# Task flags (/proc/PID/stat, field 9; include/linux/sched.h).
PF_KTHREAD = 0x00200000
PF_NO_SETAFFINITY = 0x04000000


class ConfigError(Exception):
    """The configuration cannot be used; nothing was changed."""


class Refused(OSError):
    """A write outside what the section owns; the section already has the error."""


def size_name(size_kb):
    """1048576 -> ``1G``, 2048 -> ``2M``."""
    for unit, factor in (("G", 1024 * 1024), ("M", 1024)):
        if size_kb % factor == 0:
            return "%d%s" % (size_kb // factor, unit)
    return "%dK" % size_kb


# What each section may write: the path, resolved (symbolic links followed)
# below the root, must lie below one of these.  A component may be a shell
# pattern; ``**`` stands for any number of components.  /sys/class/net and
# /sys/bus/pci/devices hold symbolic links: a receive queue resolves to the
# device's directory below /sys/devices/.../net/<name>, a PCI device to its
# directory below the PCI root bus (/sys/devices/pci0000:00/..., also where
# that bus sits below a platform device).
OWNED = {
    "cpu_offline": ("/sys/devices/system/cpu/cpu[0-9]*/online",),
    "hugepages": ("/sys/devices/system/node", "/sys/kernel/mm/hugepages", "/proc/sys/vm"),
    "dpdk": ("/sys/bus/pci", "/sys/devices/**/pci?*:??", "/sys/module"),
    "sysctl": ("/proc/sys",),
    "thp": ("/sys/kernel/mm/transparent_hugepage",),
    "ksm": ("/sys/kernel/mm/ksm/run",),
    "irq": ("/proc/irq",),
    "workqueue": ("/sys/devices/virtual/workqueue", "/sys/bus/workqueue/devices"),
    # sched_setaffinity of kernel threads only (Section._affinity), no file.
    "kthread": (),
    # sched_setaffinity of user-space threads only (Section._affinity, task "user"), no file.
    "sweep": (),
    "rps": ("/sys/class/net", "/sys/devices/**/net"),
    "cpufreq": ("/sys/devices/system/cpu",),
    "cpuidle": ("/sys/devices/system/cpu",),
    "energy_perf_bias": ("/sys/devices/system/cpu",),
    "epp": ("/sys/devices/system/cpu",),
    "min_perf_pct": ("/sys/devices/system/cpu/intel_pstate/min_perf_pct",),
}


def bracketed(text):
    """``always madvise [never]`` -> (``never``, [always, madvise, never]).

    A file holding one word without brackets reads as that word chosen (the
    ``choice`` read-back below takes such a text as the value too): what a
    node's tree seen below a root shows after a write, where no kernel
    rewrites the file (docs/fleet.md)."""
    chosen = None
    choices = []
    words = text.split()
    for word in words:
        if word.startswith("[") and word.endswith("]"):
            word = word[1:-1]
            chosen = word
        choices.append(word)
    if chosen is None and len(words) == 1:
        chosen = words[0]
    return chosen, choices


# How a ``set`` action compares what the file reads back with what it wrote.
COMPARE = {
    "text": lambda text: text,
    "words": lambda text: " ".join(text.split()),  # whitespace-insensitive (sysctl)
    "mask": parse_mask,  # a hex CPU mask, however wide the kernel prints it
    "cpulist": lambda text: set(parse_cpulist(text)),
    "choice": lambda text: bracketed(text)[0] if "[" in text else text,  # the word in brackets
}

# Outcomes of carry_out, one per action.
DONE = "done"
FAILED = "failed"
REFUSED = "refused"
EIO = "eio"
NOT_RUN = "not run"


def set_action(path, before, after, compare="text", **extra):
    """A ``set`` action (see the module's docstring)."""
    action = {"kind": "set", "path": path, "before": before, "after": after, "compare": compare}
    action.update(extra)
    return action


def affinity_action(pid, comm, before, allowed, housekeeping, **extra):
    """An ``affinity`` action that moves a task onto the housekeeping CPUs it
    is already allowed on (a NUMA node's, for example), or onto all of them
    when it has none there."""
    new = sorted(set(allowed) & set(housekeeping)) or sorted(housekeeping)
    action = {"kind": "affinity", "pid": pid, "comm": comm, "before": before, "after": format_cpulist(new)}
    action.update(extra)
    return action


def read_online_cpus(ctx):
    """The CPUs online now (/sys/devices/system/cpu/online), or None when the
    file is missing or unreadable (then every allowed CPU counts)."""
    text = ctx.read("/sys/devices/system/cpu/online")
    if not text:
        return None
    try:
        return set(parse_cpulist(text))
    except ValueError:
        return None


def runs_outside(allowed, housekeeping, online):
    """True when a task allowed on ``allowed`` may run on a CPU outside
    ``housekeeping``, given the CPUs ``online`` (None: unknown, all count).  Offline CPUs do not count: a kernel thread created
    after ``cpu_offline`` took CPU N away is allowed on the kernel's
    housekeeping set (every CPU not in nohz_full, N included), and can run
    on none of them but the online ones."""
    runnable = set(allowed) & set(online) if online is not None else set(allowed)
    return not runnable <= set(housekeeping)


def message(kind, text):
    """An ``error``, ``notice`` or ``skip`` action."""
    return {"kind": kind, "text": text}


def carry_out_decision(sec, decision, steps=None):
    """Carry out a decision's actions and add its report data to the section."""
    outcomes = sec.carry_out(decision["actions"], steps)
    sec.data.update(decision.get("data", {}))
    return outcomes


def _below(parts, pattern):
    """True when the path components ``parts`` start with those of ``pattern``."""
    if not pattern:
        return True
    if pattern[0] == "**":
        return any(_below(parts[index:], pattern[1:]) for index in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _below(parts[1:], pattern[1:])


def owned_problem(section, abspath, resolved):
    """Why ``section`` may not write ``abspath``, which resolves to ``resolved``
    (Context.resolve: None when that is outside the root), or None."""
    owned = OWNED.get(section, ())
    if resolved is not None:
        parts = [part for part in resolved.split("/") if part]
        if any(_below(parts, prefix.strip("/").split("/")) for prefix in owned):
            return None
    return ("%s: not written: it resolves to %s, outside what the %s section may write (%s)"
            % (abspath, resolved or "a path outside the root", section, ", ".join(owned) or "nothing"))


def read_task(ctx, pid):
    """{comm, kthread, no_setaffinity, cpus} of the process ``pid`` as ``ctx``
    reads /proc, or None when it is gone."""
    stat = ctx.read("/proc/%d/stat" % pid)
    status = ctx.read("/proc/%d/status" % pid)
    if not stat or not status or ")" not in stat:
        return None
    head, _sep, tail = stat.rpartition(")")
    try:
        flags = int(tail.split()[6])
    except (IndexError, ValueError):
        return None
    cpus = [line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("Cpus_allowed_list:")]
    return {"comm": head.partition("(")[2], "kthread": bool(flags & PF_KTHREAD),
            "no_setaffinity": bool(flags & PF_NO_SETAFFINITY), "cpus": cpus[0] if cpus else ""}


# --------------------------------------------------------------------- context
class Context(object):
    """Paths below a root, reads and writes; knows whether it may write."""

    def __init__(self, root, check, state_dir):
        self.root = root
        self.check = check
        self.state_dir = state_dir

    def path(self, abspath):
        return os.path.join(self.root, abspath.lstrip("/"))

    def resolve(self, abspath):
        """``abspath`` with every symbolic link followed, as a path on the node
        (below the root); None when it leads out of the root."""
        top = os.path.realpath(self.root)
        rel = os.path.relpath(os.path.realpath(self.path(abspath)), top)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None
        return "/" + "/".join(part for part in rel.split(os.sep) if part not in ("", os.curdir))

    def exists(self, abspath):
        return os.path.exists(self.path(abspath))

    def read(self, abspath):
        """Content without surrounding whitespace, or None when the file is missing."""
        try:
            with open(self.path(abspath)) as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    def read_int(self, abspath):
        """The file's content as an int, or None when it is missing or not a number."""
        text = self.read(abspath)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            return None

    def write(self, abspath, value):
        # One write() call, like `echo value > file`: sysfs and procfs act on it
        # and report errors (EIO, EINVAL ...) from that call.
        fd = os.open(self.path(abspath), os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, (value + "\n").encode())
        finally:
            os.close(fd)

    def listdir(self, abspath):
        try:
            return sorted(os.listdir(self.path(abspath)))
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            raise

    def link_name(self, abspath):
        """Last component of a symlink's target (a driver's or group's name), or None."""
        try:
            return os.path.basename(os.readlink(self.path(abspath)))
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EINVAL):
                return None
            raise

    def modprobe(self, module):
        """Load a kernel module; returns an error text, or None when it loaded."""
        if os.path.realpath(self.root) != "/":
            return "not loading kernel modules for the tree under %s" % self.root
        tool = "modprobe"
        for candidate in ("/usr/sbin/modprobe", "/sbin/modprobe"):
            if os.path.exists(candidate):
                tool = candidate
                break
        try:
            proc = subprocess.Popen([tool, module], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
            out, err = proc.communicate()
        except (IOError, OSError) as exc:
            return "%s %s: %s" % (tool, module, exc)
        if proc.returncode != 0:
            return (err or out).strip() or "%s %s exited %d" % (tool, module, proc.returncode)
        return None

    def task(self, pid):
        """{comm, kthread, no_setaffinity, cpus} of the process ``pid``, or None when it is gone."""
        return read_task(self, pid)

    def set_affinity(self, pid, cpus):
        """sched_setaffinity(pid, cpus) on this machine.  For a tree under another
        root (a captured or simulated node), the CPUs are written into the tree's
        /proc/PID/status instead, as the kernel would then show them."""
        if os.path.realpath(self.root) == "/":
            os.sched_setaffinity(pid, cpus)
            return
        text = format_cpulist(cpus)
        # /proc/PID and, for a thread, /proc/TGID/task/PID show the same task
        paths = [self.path("/proc/%d/status" % pid)]
        paths += [self.path("/proc/%s/task/%d/status" % (entry, pid)) for entry in self.listdir("/proc")
                  if entry.isdigit() and os.path.exists(self.path("/proc/%s/task/%d/status" % (entry, pid)))]
        for path in paths:
            with open(path) as handle:
                lines = handle.read().splitlines()
            lines = [("Cpus_allowed_list:\t" + text) if line.startswith("Cpus_allowed_list:") else line
                     for line in lines]
            with open(path, "w") as handle:
                handle.write("\n".join(lines) + "\n")

    def online_cpus(self):
        text = self.read("/sys/devices/system/cpu/online")
        if text is None:
            raise ConfigError("cannot read /sys/devices/system/cpu/online under %s" % self.root)
        return parse_cpulist(text)

    def state_path(self, name):
        return os.path.join(self.root, self.state_dir.lstrip("/"), name)

    def load_state(self, name, key):
        """``key`` of the state file ``name`` written during this boot, or None
        (missing, unreadable, or from an earlier boot: runtime state does not
        survive a reboot, and neither does what was recorded about it)."""
        try:
            with open(self.state_path(name)) as handle:
                data = json.load(handle)
        except (IOError, OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("boot_id") != self.boot_id():
            return None
        return data.get(key)

    def save_state(self, name, key, value):
        """Record ``value`` for this boot (written atomically); returns an error text or None."""
        path = self.state_path(name)
        try:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            tmp = path + ".tmp"
            with open(tmp, "w") as handle:
                json.dump({"boot_id": self.boot_id(), key: value}, handle, indent=1, sort_keys=True)
            os.rename(tmp, path)
        except (IOError, OSError) as exc:
            return "cannot write %s: %s" % (path, os.strerror(exc.errno or 0))
        return None

    def boot_id(self):
        return self.read("/proc/sys/kernel/random/boot_id") or ""


class Section(object):
    """Outcome of one section: the changes made (or that would be made), its
    notices and errors; and the writer that carries out the section's actions
    (``carry_out``), only below what the section owns."""

    def __init__(self, name, ctx):
        self.name = name
        self.ctx = ctx
        self.changes = []
        self.notices = []
        self.errors = []
        self.skipped = False
        self.data = {}

    def change(self, path, before, after):
        self.changes.append({"path": path, "before": before, "after": after})

    def notice(self, text):
        self.notices.append(text)

    def error(self, text):
        self.errors.append(text)

    def skip(self, text):
        self.skipped = True
        self.notice(text)

    # ----------------------------------------------------------- the writer
    def refused(self, path):
        """Record and return True when this section may not write ``path``."""
        problem = owned_problem(self.name, path, self.ctx.resolve(path))
        if problem:
            self.error(problem)
        return bool(problem)

    def write(self, path, value):
        """Write ``value`` to ``path`` (nothing in check mode); raises Refused
        outside what the section owns, OSError as the write does."""
        if self.refused(path):
            raise Refused(errno.EACCES, "outside what the %s section may write" % self.name)
        if not self.ctx.check:
            self.ctx.write(path, value)

    def carry_out(self, actions, steps=None):
        """Carry out ``actions`` in order (see the module's docstring); returns
        one outcome per action: DONE, FAILED, REFUSED, EIO or NOT_RUN."""
        outcomes = []
        stopped = False
        for action in actions:
            if stopped:
                outcomes.append(NOT_RUN)
                continue
            kind = action["kind"]
            if kind in ("error", "notice", "skip"):
                getattr(self, kind)(action["text"])
                outcome = DONE
            elif kind == "set":
                outcome = self._set(action)
            elif kind == "write":
                outcome = self._write(action)
            elif kind == "modprobe":
                outcome = self._modprobe(action)
            elif kind == "affinity":
                outcome = self._affinity(action)
            else:
                outcome = DONE if steps[kind](self, action) else FAILED
            outcomes.append(outcome)
            stopped = action.get("stop", False) and outcome in (FAILED, REFUSED)
        return outcomes

    def _set(self, action):
        path, before, after = action["path"], action["before"], action["after"]
        value = action.get("value", after)
        if self.refused(path):
            return REFUSED
        if self.ctx.check:
            self.change(path, before, after)
            return DONE
        try:
            self.ctx.write(path, value)
        except (IOError, OSError) as exc:
            if exc.errno == errno.EIO and action.get("accept_eio"):
                return EIO
            self.error("%s: writing %r failed: %s" % (path, value, os.strerror(exc.errno or 0)))
            return FAILED
        now = self.ctx.read(path)
        compare = COMPARE[action.get("compare", "text")]
        if (None if now is None else compare(now)) != compare(after):
            self.error("%s: wrote %r but it reads %r" % (path, value, now))
            return FAILED
        self.change(path, before, now)
        return DONE

    def _write(self, action):
        path, value = action["path"], action["after"]
        if self.refused(path):
            return REFUSED
        if self.ctx.check:
            self.change(path, action.get("before"), value)
            return DONE
        try:
            self.ctx.write(path, value)
        except (IOError, OSError) as exc:
            template = action.get("on_failure", "%(path)s: writing %(value)r failed: %(reason)s")
            self.notice(template % {"path": path, "value": value, "reason": os.strerror(exc.errno or 0)})
            return FAILED
        return DONE

    def _modprobe(self, action):
        module, path = action["module"], action["path"]
        if not self.ctx.check:
            problem = self.ctx.modprobe(module)
            if problem is None and not self.ctx.exists(path):
                problem = "modprobe %s succeeded but %s did not appear" % (module, path)
            if problem:
                self.error("cannot load the %s driver: %s" % (module, problem))
                return FAILED
        self.change(path, "(not loaded)", "modprobe %s" % module)
        return DONE

    def _affinity(self, action):
        pid, comm, after = action["pid"], action["comm"], action["after"]
        kernel = action.get("task", "kernel") == "kernel"
        kind = "kernel thread" if kernel else "user-space thread"
        label = "%s %s (pid %d)" % (kind, comm, pid)
        task = self.ctx.task(pid)
        if task is None:
            return DONE  # it ended: nothing left to move
        if task["kthread"] != kernel or task["comm"] != comm:
            self.error("pid %d: not changed: it is no longer the %s %s (the %s section sets the "
                       "CPUs of %ss only)" % (pid, kind, comm, self.name, kind))
            return REFUSED
        if self.ctx.check:
            self.change(label, task["cpus"], after)
            return DONE
        try:
            self.ctx.set_affinity(pid, parse_cpulist(after))
        except (IOError, OSError) as exc:
            if exc.errno == errno.ESRCH:
                return DONE
            self.error("%s: setting its CPUs to %s failed: %s" % (label, after, os.strerror(exc.errno or 0)))
            return FAILED
        now = self.ctx.task(pid)
        if now is not None and set(parse_cpulist(now["cpus"])) != set(parse_cpulist(after)):
            self.error("%s: set its CPUs to %s but they read %s" % (label, after, now["cpus"]))
            return FAILED
        self.change(label, task["cpus"], after)
        return DONE

    def status(self):
        if self.errors:
            return "failed"
        if self.changes:
            return "would_change" if self.ctx.check else "changed"
        if self.skipped:
            return "skipped"
        return "ok"

    def to_dict(self):
        result = {
            "status": self.status(),
            "changed": bool(self.changes),
            "changes": self.changes,
            "notices": self.notices,
            "errors": self.errors,
        }
        result.update(self.data)
        return result


# ------------------------------------------------------------- config helpers
def cpus_option(cfg, key, section, required=True):
    if key not in cfg or cfg[key] is None:
        if required:
            raise ConfigError("%s.%s is required" % (section, key))
        return None
    value = cfg[key]
    if isinstance(value, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise ConfigError("%s.%s must be a cpulist or a list of CPU ids" % (section, key))
        cpus = sorted(set(value))
    elif isinstance(value, str):
        try:
            cpus = parse_cpulist(value)
        except ValueError as exc:
            raise ConfigError("%s.%s: %s" % (section, key, exc))
    else:
        raise ConfigError("%s.%s must be a cpulist string such as 0-1,4-5" % (section, key))
    return cpus


def check_keys(cfg, section, allowed):
    if not isinstance(cfg, dict):
        raise ConfigError("section %s must be a JSON object" % section)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ConfigError("section %s: unknown keys %s (known: %s)"
                          % (section, ", ".join(unknown), ", ".join(sorted(allowed))))
