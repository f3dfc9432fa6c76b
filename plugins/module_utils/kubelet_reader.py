# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the node's kubelet, read-only: what bot4.hft.node_state_info returns as ``state.kubelet``.

The binary and its version, the running process's flags (``--config``,
``--config-dir``, ``--hostname-override``, ``--root-dir``), the unit's state
and automatic restart count, the CPU and memory manager checkpoints, and the
text of the KubeletConfiguration file and its drop-ins.  Files are read below
``root``; commands (``systemctl show``, ``kubelet --version``) go through
``run(argv) -> (rc, stdout, stderr)``, the module's run_command (a command that
cannot be started raises OSError), None to run none.  What the plan wants of
it is ``kubelet.py``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil

from ansible_collections.bot4.hft.plugins.module_utils.kubelet import (
    CHECKPOINTS,
    DEFAULT_CONFIG_FILE,
    config_paths,
    kubelet_flags,
    node_name,
    parse_version,
    strict_cpu_reservation,
)

# Where a kubelet binary is looked for when its unit runs none.
BINARIES = ("/usr/local/bin/kubelet", "/usr/bin/kubelet")


def _under(root, path):
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def _output(run, argv):
    """(stdout, stderr) of a command; empty when it is not run or cannot be started."""
    if run is None:
        return "", ""
    try:
        _rc, out, err = run(argv)
    except OSError:
        return "", ""
    return out or "", err or ""


def _checkpoint(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {"present": False}
    except (OSError, ValueError) as exc:
        return {"present": True, "error": str(exc)}
    return {"present": True, "policyName": data.get("policyName") if isinstance(data, dict) else None}


def read_kubelet(run=None, service="kubelet", root_dir="/var/lib/kubelet", root="/", which=shutil.which,
                 hostname=None):
    """The kubelet's binary, version, flags, unit state and checkpoints.

    ``which``: looks a command up on PATH (None: not looked up).  ``hostname``:
    the node's, default this machine's.
    """

    def show(prop):
        return _output(run, ["systemctl", "show", "-p", prop, "--value", service])[0].strip()

    facts = {"installed": False, "running": False, "version": None, "flags": {}, "restarts": 0,
             "active": show("ActiveState")}
    pid = show("MainPID")
    argv = []
    if pid.isdigit() and int(pid) > 0:
        try:
            with open(_under(root, "/proc/%s/cmdline" % pid), "rb") as handle:
                argv = [a.decode() for a in handle.read().split(b"\0") if a]
            facts["running"] = True
        except OSError:
            argv = []
    binary = argv[0] if argv else ((which("kubelet") if which else None) or "")
    for candidate in (binary,) + BINARIES:
        if candidate and os.access(_under(root, candidate), os.X_OK):
            binary = candidate
            break
    else:
        binary = ""
    if binary:
        facts["installed"] = True
        facts["binary"] = binary
        version = parse_version("".join(_output(run, [_under(root, binary), "--version"])))
        if version:
            facts["version"] = "%s.%s.%s" % tuple(version)
            facts["version_tuple"] = version
    facts["flags"] = kubelet_flags(argv[1:])
    restarts = show("NRestarts")
    facts["restarts"] = int(restarts) if restarts.isdigit() else 0
    facts["hostname"] = (hostname or os.uname().nodename).lower()
    for name, _key in CHECKPOINTS:
        facts[name] = _checkpoint(_under(root, os.path.join(root_dir, name)))
    return facts


def read_config(path, directory="", root="/"):
    """The KubeletConfiguration ``path`` and the ``*.conf`` drop-ins of ``directory``, as text.

    ``documents``: ``{path, text}`` of the file, then of each drop-in in name
    order (hidden files and anything but regular files skipped); ``error``:
    why the file or a drop-in could not be read, else None.
    """
    config = {"file": path, "dir": directory, "documents": [], "error": None}
    paths = [path]
    folder = _under(root, directory) if directory else ""
    if folder and os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            full = os.path.join(folder, name)
            if (fnmatch.fnmatch(name, "*.conf") and not name.startswith(".") and os.path.isfile(full)
                    and not os.path.islink(full)):
                paths.append(os.path.join(directory, name))
    for name in paths:
        try:
            with open(_under(root, name)) as handle:
                config["documents"].append({"path": name, "text": handle.read()})
        except (OSError, UnicodeDecodeError) as exc:
            config["error"] = "%s: %s" % (name, getattr(exc, "strerror", None) or exc)
            config["documents"] = []
            break
    return config


def read_node_kubelet(run=None, service="kubelet", root_dir="/var/lib/kubelet", config_file="auto",
                      config_dir="auto", default_config_file=DEFAULT_CONFIG_FILE, strict="auto", root="/",
                      which=shutil.which, hostname=None):
    """``state.kubelet``: read_kubelet's facts, the node name, whether strict-cpu-reservation
    applies (``strict``: auto, true or false, against the version) and, when the
    kubelet is installed, its configuration (``config``, read_config's)."""
    facts = read_kubelet(run, service, root_dir, root=root, which=which, hostname=hostname)
    facts["node_name"] = node_name(facts["flags"], facts["hostname"])
    facts["strict_cpu_reservation"] = strict_cpu_reservation(strict, facts.get("version_tuple"))
    path, directory = config_paths(facts["flags"], config_file, config_dir, default_config_file)
    facts["config"] = (read_config(path, directory, root) if facts["installed"]
                       else {"file": path, "dir": directory, "documents": [], "error": None})
    return facts
