# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The node applier's common parts: its constants, the context every section
reads and writes through (paths below a root, check mode), and a section's
outcome (changes, notices, errors).

The applier brings the runtime part of a bot4.hft node plan (``plan.runtime``)
into the node: what the kernel forgets at every boot.  It runs as the module
bot4.hft.node_state and, at every boot, as ``bot4-hft-runtime`` (the same
package, installed on the node by the housekeeping role).

Only the Python standard library is used, so it runs on a bare node.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist

PROG = "bot4-hft-runtime"
CONFIG_FORMAT = 1
DEFAULT_CONFIG = "/etc/bot4-hft/runtime.d"
DEFAULT_STATE_DIR = "/run/bot4-hft"

SECTIONS = (
    "hugepages",
    "dpdk",
    "sysctl",
    "thp",
    "irq",
    "workqueue",
    "rps",
    "cpufreq",
    "cpuidle",
    "energy_perf_bias",
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


class ConfigError(Exception):
    """The configuration cannot be used; nothing was changed."""



def size_name(size_kb):
    """1048576 -> ``1G``, 2048 -> ``2M``."""
    for unit, factor in (("G", 1024 * 1024), ("M", 1024)):
        if size_kb % factor == 0:
            return "%d%s" % (size_kb // factor, unit)
    return "%dK" % size_kb


# --------------------------------------------------------------------- context
class Context(object):
    """Paths below a root, reads and writes; knows whether it may write."""

    def __init__(self, root, check, state_dir):
        self.root = root
        self.check = check
        self.state_dir = state_dir

    def path(self, abspath):
        return os.path.join(self.root, abspath.lstrip("/"))

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
    """Outcome of one section: the changes made (or that would be made)."""

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

    def set_value(self, path, before, after, compare=None):
        """Write ``after`` to ``path`` unless it already reads ``before``==``after``.

        In check mode only record the difference.  After a write the file is read
        back and compared (``compare`` turns the read-back text into the
        comparable value, default: the stripped text).  Returns True when the
        value is (or would be) in place.
        """
        if self.ctx.check:
            self.change(path, before, after)
            return True
        try:
            self.ctx.write(path, after)
        except (IOError, OSError) as exc:
            self.error("%s: writing %r failed: %s" % (path, after, os.strerror(exc.errno or 0)))
            return False
        now = self.ctx.read(path)
        expected = after if compare is None else compare(after)
        got = now if compare is None else (compare(now) if now is not None else None)
        if got != expected:
            self.error("%s: wrote %r but it reads %r" % (path, after, now))
            return False
        self.change(path, before, now)
        return True

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


def cpus_or_online(ctx, cfg, key, section):
    cpus = cpus_option(cfg, key, section, required=False)
    online = ctx.online_cpus()
    if cpus is None:
        return online
    return [cpu for cpu in cpus if cpu in set(online)]
