#!/usr/bin/env python3
"""labctl: the bot4 lab's node tool.

Builds a bootable Debian 12 node image from Debian packages only and boots QEMU
VMs that look like a two-socket HFT server (2 NUMA nodes, SMT siblings, an
IOMMU, a data-plane NIC on NUMA node 1). The VMs boot through their own GRUB,
reboot for real and are reached over SSH, like bare metal.
See lab/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bot4lab import accel as accel_mod  # noqa: E402
from bot4lab import image as image_mod  # noqa: E402
from bot4lab import qemu  # noqa: E402
from bot4lab.common import LabError, cache_dir, labs_dir  # noqa: E402
from bot4lab.lab import Lab, all_labs, dumps  # noqa: E402

EPILOG = """\
environment:
  BOT4_CACHE_DIR   image cache root (default ~/.cache/bot4-hft); images in <cache>/images/<hash>/
  BOT4_LAB_DIR     lab state root (default <repo>/.lab); one directory per lab
  BOT4_LAB_ACCEL   kvm|tcg: force the accelerator (default: probe KVM by booting, else TCG)

examples:
  lab/labctl.py image
  lab/labctl.py up --name dev --nodes 2 --inventory inventories/lab/hosts.yml
  lab/labctl.py ssh --name dev 1 cat /proc/cmdline
  lab/labctl.py status --name dev
  lab/labctl.py down --name dev        # graceful ACPI power-off; disks are kept
  lab/labctl.py destroy --name dev     # power off and delete the lab's state
"""


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="labctl.py", description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_accel(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--accel", choices=accel_mod.CHOICES, default="auto",
                        help="QEMU accelerator (default auto: KVM only if a probe boot works; "
                             "BOT4_LAB_ACCEL overrides)")

    sp = sub.add_parser("image", help="build or reuse the node base image; print its path",
                        description="Build (or reuse from the cache) the node base image and "
                                    "print the path of its qcow2 file.")
    sp.add_argument("--force", action="store_true", help="rebuild even if a cached image exists")
    sp.add_argument("--id", action="store_true", help="print only the image's content hash")
    add_accel(sp)

    sp = sub.add_parser("up", help="boot a lab's nodes (idempotent) and write the inventory",
                        description="Build/reuse the image, boot NAME's nodes in parallel, wait "
                                    "for SSH and write the Ansible inventory. Running nodes are "
                                    "left alone; stopped nodes restart from their disks.")
    sp.add_argument("--name", required=True, help="lab name (letters, digits, '-')")
    sp.add_argument("--nodes", type=_positive, default=1, help="number of nodes (default 1)")
    sp.add_argument("--inventory", type=Path,
                    help="inventory file to write (default <state dir>/inventory.yml)")
    sp.add_argument("--group", default="hft_nodes", help="inventory group (default hft_nodes)")
    sp.add_argument("--memory-per-numa-node", type=_positive, metavar="MiB",
                    help=f"RAM per NUMA node (default {qemu.Hardware.memory_per_numa_node_mib})")
    sp.add_argument("--sockets", type=_positive, help="sockets = NUMA nodes (default 2)")
    sp.add_argument("--cores", type=_positive, help="cores per socket (default 2)")
    sp.add_argument("--threads", type=_positive, help="threads per core (default 2)")
    sp.add_argument("--timeout", type=float, default=480.0, metavar="SECONDS",
                    help="wait this long for SSH on each node (default 480; a TCG boot "
                         "takes 30-60 s on an idle host, several minutes on a busy one)")
    add_accel(sp)

    sp = sub.add_parser("down", help="power the lab's nodes off (ACPI), keep their disks")
    sp.add_argument("--name", required=True)
    sp.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                    help="grace time for the guests to power off before QEMU is killed")

    sp = sub.add_parser("destroy", help="down, then delete the lab's state directory")
    sp.add_argument("--name", required=True)
    sp.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS")

    sp = sub.add_parser("status", help="print the lab's (or every lab's) state as JSON")
    sp.add_argument("--name")

    sp = sub.add_parser("ssh", help="ssh into a node (NODE: name, index or node-N)",
                        description="Open a shell on NODE, or run CMD there.")
    sp.add_argument("--name", required=True)
    sp.add_argument("node", metavar="NODE")
    sp.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD")

    sub.add_parser("list", help="list the labs and their running nodes")
    return p


def _hardware(args: argparse.Namespace, lab: Lab) -> qemu.Hardware | None:
    given = {
        "sockets": args.sockets, "cores": args.cores, "threads": args.threads,
        "memory_per_numa_node_mib": args.memory_per_numa_node,
    }
    given = {k: v for k, v in given.items() if v is not None}
    base = dict(lab.state().get("hardware") or {})
    base.update(given)
    try:
        return qemu.Hardware(**base)
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def _terminate(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C, so that `up` stops the VMs it started and a build
    # removes its temporary directory.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "image":
            spec = image_mod.ImageSpec()
            if args.id:
                print(image_mod.image_id(spec))
                return 0
            print(image_mod.ensure_image(spec, force=args.force, accel_choice=args.accel))
        elif args.command == "up":
            lab = Lab(args.name)
            status = lab.up(nodes=args.nodes, inventory=args.inventory, group=args.group,
                            hardware=_hardware(args, lab), accel_choice=args.accel,
                            ssh_timeout=args.timeout)
            print(f"lab {lab.name}: {status['running']} node(s) running; inventory: "
                  f"{status['inventory']}")
            for n in status["nodes"]:
                print(f"  {n['name']}: ssh -p {n['ssh_port']} root@127.0.0.1 "
                      f"(labctl.py ssh --name {lab.name} {n['name']})")
        elif args.command == "down":
            Lab(args.name).down(timeout=args.timeout)
        elif args.command == "destroy":
            Lab(args.name).destroy(timeout=args.timeout)
        elif args.command == "status":
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            if args.name:
                print(dumps(Lab(args.name).status()))
            else:
                print(dumps({"labs": [lab.status() for lab in all_labs()]}))
        elif args.command == "ssh":
            lab = Lab(args.name)
            node = lab.find_node(args.node)
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            ssh = lab.ssh_argv(node, batch=False)
            if not cmd and sys.stdin.isatty():
                ssh.insert(1, "-t")
            os.execvp(ssh[0], ssh + cmd)
        elif args.command == "list":
            labs = all_labs()
            if not labs:
                print(f"no labs in {labs_dir()}")
            for lab in labs:
                st = lab.status()
                print(f"{lab.name}\t{st['running']}/{len(st['nodes'])} running\t{lab.dir}")
        return 0
    except LabError as exc:
        print(f"labctl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
