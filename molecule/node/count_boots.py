#!/usr/bin/env python3
"""Print how many times a lab VM's kernel has booted, from its serial console.

The console log is appended across boots and the kernel prints its banner
("[    0.000000] Linux version ...") once per boot, whoever rebooted it, so this
counts real boots independently of anything the node reports.

    count_boots.py SSH_PORT   (the VM is found by its forwarded SSH port)
"""
import json
import os
import re
import subprocess
import sys

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BANNER = re.compile(rb"\[\s*0\.000000\] Linux version ")


def main() -> int:
    port = int(sys.argv[1])
    name = os.environ.get("BOT4_LAB_NAME", "molecule-node")
    status = json.loads(subprocess.run(
        [sys.executable, os.path.join(PROJECT, "lab", "labctl.py"), "status", "--name", name],
        check=True, capture_output=True, text=True).stdout)
    nodes = [n for n in status["nodes"] if int(n["ssh_port"]) == port]
    if len(nodes) != 1:
        print(f"no lab VM of {name} forwards SSH port {port}", file=sys.stderr)
        return 2
    with open(nodes[0]["console_log"], "rb") as handle:
        print(len(BANNER.findall(handle.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
