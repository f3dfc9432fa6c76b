# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Read-only: the kernel's isolated sets and what the installed runtime applier
would change, printed as JSON for the verify role.

Arguments: the applier's path, its configuration directory, its boot unit,
and the systemd slices confined to the reserved CPUs (comma-separated).

Also the CPU affinity of PID 1 and of every other process outside the
kubelet's kubepods slice (kernel threads excepted), and the confined slices'
effective cpusets.
"""
import json
import os
import subprocess
import sys

APPLIER, CONFIG_DIR, UNIT = sys.argv[1:4]
SLICES = [s for s in (sys.argv[4] if len(sys.argv) > 4 else "").split(",") if s]


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def status_field(pid, name):
    text = read(f"/proc/{pid}/status") or ""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def affinity():
    """PID 1's CPUs, the slices' cpusets, and each user-space process outside kubepods."""
    processes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == "1":
            continue
        # Kernel threads have no command line; their CPUs are the kernel's business.
        if not read(f"/proc/{entry}/cmdline"):
            continue
        cgroup = read(f"/proc/{entry}/cgroup") or ""
        if "kubepods" in cgroup:
            continue
        cpus = status_field(entry, "Cpus_allowed_list")
        if cpus is None:
            continue
        processes.append({"pid": int(entry), "comm": read(f"/proc/{entry}/comm"), "cpus": cpus,
                          "cgroup": cgroup.split("::", 1)[-1]})
    return {
        "pid1": status_field(1, "Cpus_allowed_list"),
        "slices": {name: read(f"/sys/fs/cgroup/{name}/cpuset.cpus.effective") for name in SLICES},
        "processes": processes,
    }


def main():
    out = {
        "cmdline": read("/proc/cmdline"),
        "isolated": read("/sys/devices/system/cpu/isolated"),
        "nohz_full": read("/sys/devices/system/cpu/nohz_full"),
        "applier": {"installed": os.access(APPLIER, os.X_OK), "config": os.path.isdir(CONFIG_DIR)},
        "unit": {},
        "affinity": affinity(),
    }
    if out["nohz_full"] == "(null)":
        out["nohz_full"] = ""
    for prop in ("UnitFileState", "ActiveState", "Result"):
        proc = subprocess.run(["systemctl", "show", "-p", prop, "--value", UNIT],
                              capture_output=True, text=True, check=False)
        out["unit"][prop] = proc.stdout.strip()
    if out["applier"]["installed"] and out["applier"]["config"]:
        proc = subprocess.run([sys.executable, APPLIER, "--check", "--config", CONFIG_DIR],
                              capture_output=True, text=True, check=False)
        out["applier"]["rc"] = proc.returncode
        try:
            out["applier"]["report"] = json.loads(proc.stdout)
        except ValueError:
            out["applier"]["report"] = None
            out["applier"]["stderr"] = (proc.stderr or proc.stdout)[-2000:]
    json.dump(out, sys.stdout, sort_keys=True)


main()
