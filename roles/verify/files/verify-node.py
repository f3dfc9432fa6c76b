# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Read-only: the kernel's isolated sets and what the installed runtime applier
would change, printed as JSON for the verify role.

Arguments: the applier's path, its configuration directory, its boot unit.
"""
import json
import os
import subprocess
import sys

APPLIER, CONFIG_DIR, UNIT = sys.argv[1:4]


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def main():
    out = {
        "cmdline": read("/proc/cmdline"),
        "isolated": read("/sys/devices/system/cpu/isolated"),
        "nohz_full": read("/sys/devices/system/cpu/nohz_full"),
        "applier": {"installed": os.access(APPLIER, os.X_OK), "config": os.path.isdir(CONFIG_DIR)},
        "unit": {},
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
