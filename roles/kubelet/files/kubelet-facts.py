# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Read-only facts about the node's kubelet, printed as JSON.

Run by the kubelet role with the node's python3 (script on stdin, arguments:
the systemd unit, the kubelet root directory). Reports the binary and its
version, the running process's flags (--config, --config-dir,
--hostname-override), the unit's automatic restart count and the CPU and
memory manager state files.
"""
import json
import os
import re
import shutil
import subprocess
import sys

UNIT = sys.argv[1] if len(sys.argv) > 1 else "kubelet"
ROOT = sys.argv[2] if len(sys.argv) > 2 else "/var/lib/kubelet"


def show(prop):
    try:
        return subprocess.run(["systemctl", "show", "-p", prop, "--value", UNIT],
                              capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def flags(argv):
    """--name=value and --name value -> {name: value} (last one wins)."""
    out = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value = argv[i + 1]
                i += 1
            out[name] = value
        i += 1
    return out


def state(name):
    path = os.path.join(ROOT, name)
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {"present": False}
    except (OSError, ValueError) as exc:
        return {"present": True, "error": str(exc)}
    return {"present": True, "policyName": data.get("policyName")}


def main():
    facts = {"installed": False, "running": False, "version": None, "flags": {},
             "restarts": 0, "active": show("ActiveState")}
    pid = show("MainPID")
    argv = []
    if pid.isdigit() and int(pid) > 0:
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = [a.decode() for a in handle.read().split(b"\0") if a]
            facts["running"] = True
        except OSError:
            argv = []
    binary = argv[0] if argv else (shutil.which("kubelet") or "")
    for candidate in (binary, "/usr/local/bin/kubelet", "/usr/bin/kubelet"):
        if candidate and os.access(candidate, os.X_OK):
            binary = candidate
            break
    else:
        binary = ""
    if binary:
        facts["installed"] = True
        facts["binary"] = binary
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
        if match:
            facts["version"] = "%s.%s.%s" % match.groups()
            facts["version_tuple"] = [int(x) for x in match.groups()]
    facts["flags"] = {k: v for k, v in flags(argv[1:]).items()
                      if k in ("config", "config-dir", "hostname-override", "root-dir")}
    restarts = show("NRestarts")
    facts["restarts"] = int(restarts) if restarts.isdigit() else 0
    facts["hostname"] = os.uname().nodename.lower()
    facts["cpu_manager_state"] = state("cpu_manager_state")
    facts["memory_manager_state"] = state("memory_manager_state")
    json.dump(facts, sys.stdout, sort_keys=True)


main()
