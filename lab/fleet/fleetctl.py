#!/usr/bin/env python3
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A simulated fleet of HFT nodes: one scratch root per node, an inventory that
reaches them, and (optionally) kwok Nodes of the same names in a lab cluster.

Each node is a directory holding the files a real node shows below ``/``
(``sys``, ``proc``, ``etc``, ``var``, ``usr/local``) for one of a few real
machine shapes (``tests/unit/fixtures/sysfs_builder.py``): a two-socket Xeon
with SMT, a single-socket machine without SMT, and the lab VM's shape with a
CPU-less NUMA node. The inventory puts every node on Ansible's ``local``
connection with ``hft_node_root`` set to its directory: every node-side module
and role reads and writes below that root (docs/fleet.md).

    fleetctl.py build --nodes 10 --dir .lab/fleet [--cluster NAME]
    fleetctl.py cluster --dir .lab/fleet --cluster NAME     kwok Nodes + pods
    fleetctl.py reboot --root DIR [--fault never-back]      the simulated reboot
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "unit" / "fixtures"))
sys.path.insert(0, str(REPO / ".cache" / "collections"))
sys.path.insert(0, str(REPO / "lab"))

import sysfs_builder  # noqa: E402  (the fixtures' machine shapes)
from ansible_collections.bot4.hft.plugins.module_utils import kernel_cmdline as cmdline  # noqa: E402
from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist, format_cpulist  # noqa: E402
from bot4lab.cluster.kwok import fleet_nodes  # noqa: E402  (the lab cluster's kwok Node shape)

# The stand-ins of a node's bootloader tools (the kernel_cmdline module's unit
# tests use them too): grub-mkconfig sources <root>/etc/default/grub and its
# drop-ins with sh, as the real one does, and writes a Debian 12 grub.cfg.
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "kernel_cmdline"
MKCONFIG = FIXTURES / "fake_grub_mkconfig.py"
SCRIPT_CHECK = FIXTURES / "fake_grub_script_check.py"

# The shapes of the fleet, in the order nodes take them round-robin.
SHAPES = ("xeon2s", "single8", "lab_memnode")
NAME_PREFIX = "fleet-node-"
# Written once per node, beside its tree: what the simulation knows that a
# node's files do not (its shape, its boot counter, the faults injected).
SIM_FILE = "var/lib/bot4-fleet/sim.json"

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
GRUB_DEFAULT = """GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""


def node_name(index: int) -> str:
    return "%s%03d" % (NAME_PREFIX, index)


def _write(root: Path, rel: str, content: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def build_node(root: Path, shape_name: str) -> dict:
    """Write one node's tree below ``root``; return its simulation record."""
    shape = sysfs_builder.SHAPES[shape_name]()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    sysfs_builder.build(shape, str(root))
    cpus = sorted(shape.online)
    everything = sysfs_builder.cpulist(cpus)
    nbits = max(shape.possible) + 1
    # What a booted Debian node shows beside its topology: the OS, the
    # bootloader's defaults, PID 1 and the slices on every CPU, the kernel's
    # isolation files empty, THP and the sysctls the plans set at their
    # kernel defaults, every IRQ and workqueue on every CPU.
    _write(root, "etc/os-release", OS_RELEASE)
    # The directories every Debian node has, where the roles write.
    for directory in ("usr/local/sbin", "usr/local/lib", "etc/systemd/system/multi-user.target.wants",
                      "etc/sysctl.d", "etc/udev/rules.d", "etc/modules-load.d", "etc/modprobe.d",
                      "var/lib", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    _write(root, "etc/default/grub", GRUB_DEFAULT)
    (root / "etc/default/grub.d").mkdir(parents=True, exist_ok=True)
    _write(root, "sys/devices/system/cpu/nohz_full", "(null)\n")
    _write(root, "proc/1/status", "Name:\tsystemd\nPid:\t1\nCpus_allowed_list:\t%s\n" % everything)
    _write(root, "proc/1/comm", "systemd\n")
    _write(root, "proc/1/cmdline", "/sbin/init\0")
    _write(root, "proc/1/cgroup", "0::/init.scope\n")
    for name in ("system.slice", "user.slice", "init.scope"):
        _write(root, "sys/fs/cgroup/%s/cpuset.cpus.effective" % name, everything + "\n")
    _write(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n")
    _write(root, "sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n")
    mask = sysfs_builder.hexmask(cpus, nbits)
    _write(root, "sys/devices/virtual/workqueue/cpumask", mask + "\n")
    _write(root, "proc/irq/default_smp_affinity", mask + "\n")
    for irq in range(0, 16):
        _write(root, "proc/irq/%d/smp_affinity_list" % irq, everything + "\n")
    for name, value in (("kernel/numa_balancing", "1"), ("kernel/timer_migration", "1"),
                        ("vm/stat_interval", "1"), ("kernel/sched_rt_runtime_us", "950000"),
                        ("kernel/watchdog_thresh", "10"), ("kernel/nmi_watchdog", "1"),
                        ("kernel/hung_task_timeout_secs", "120"),
                        ("vm/compact_memory", ""), ("vm/drop_caches", "0")):
        _write(root, "proc/sys/" + name, value + "\n")
    # The bootloader: the shape's own arguments in GRUB's defaults (without
    # the IOMMU switch, a key the collection owns), grub.cfg made from them,
    # and the first boot from it.
    own = [t for t in cmdline.kernel_args(shape.cmdline)
           if not t.startswith(("BOOT_IMAGE=", "root=", "intel_iommu=", "amd_iommu=", "iommu=")) and t != "ro"]
    _write(root, "etc/default/grub",
           GRUB_DEFAULT.replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="%s"' % " ".join(own)))
    (root / "boot/grub").mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(MKCONFIG), "--root", str(root), "-o", str(root / "boot/grub/grub.cfg")],
                   check=True)
    record = {"shape": shape_name, "description": shape.description, "boots": 0, "faults": {}}
    save_sim(root, record)
    _write(root, DEFAULTS_FILE, json.dumps(kernel_state(root), indent=0, sort_keys=True) + "\n")
    boot(root)
    return load_sim(root)


# What a reboot gives back: the kernel's runtime state as the node's kernel
# starts with it (sysctls, IRQ and workqueue affinity, THP, hugepage pools,
# CPU power files), read from the tree when it is written.
DEFAULTS_FILE = "var/lib/bot4-fleet/kernel-defaults.json"
KERNEL_DIRS = ("proc/sys", "proc/irq", "sys/kernel/mm", "sys/devices/virtual/workqueue",
               "sys/devices/system/node", "sys/devices/system/cpu")
SET_AT_BOOT = ("sys/devices/system/cpu/isolated", "sys/devices/system/cpu/nohz_full")


def kernel_state(root: Path) -> dict:
    state = {}
    for top in KERNEL_DIRS:
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and rel not in SET_AT_BOOT:
                state[rel] = path.read_text()
    return state


def load_sim(root: Path) -> dict:
    return json.loads((root / SIM_FILE).read_text())


def save_sim(root: Path, record: dict) -> None:
    _write(root, SIM_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _unit_values(root: Path, pattern: str, key: str) -> str:
    """The last ``key=`` of the unit files matching ``pattern`` below root, in
    systemd's order (file names sorted), or ''."""
    value = ""
    for path in sorted(glob.glob(str(root / pattern.lstrip("/"))), key=lambda p: Path(p).name):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + "="):
                value = line.split("=", 1)[1].strip()
    return ",".join(value.split())


class SimulationFault(Exception):
    """An injected fault that ends the simulated boot."""


def boot(root: Path) -> dict:
    """The simulated reboot of the node below ``root``, the only simulated step:

    1. faults.never_back: the node does not come back (the reboot fails, as
       ansible.builtin.reboot does after its timeout); the tree is unchanged;
    2. the kernel starts with its own runtime state (the sysctls, affinities,
       THP, hugepage pools and CPU power files as the tree had them when it
       was written) and boots grub.cfg's default entry: /proc/cmdline takes its
       arguments; the scheduler's isolated set and nohz_full come from
       isolcpus= and nohz_full=; boot-time hugepages (hugepagesz=/hugepages=)
       are reserved on their nodes;
    3. systemd: PID 1's affinity from CPUAffinity= (system.conf.d), each
       confined slice's cpuset from its AllowedCPUs= drop-ins;
    4. /run starts empty (the collection's run/bot4-hft goes); the boot
       unit, when enabled, copies the housekeeping configuration it applies
       to run/bot4-hft (its ExecStartPre) and runs the applier installed in
       the tree (--apply --root ROOT), as bot4-hft-runtime.service does;
       faults.boot_unit_fails: it does not run (the node then differs from its
       plan after the reboot: verify fails); faults.boot_sysctl "name=value":
       that sysctl is set so after the boot unit ran;
    5. the boot counter goes up and a new boot_id is written.
    """
    record = load_sim(root)
    faults = record.get("faults", {})
    if faults.get("never_back"):
        raise SimulationFault("the node did not come back after its reboot (fault never_back)")
    defaults = root / DEFAULTS_FILE
    if defaults.exists():
        for rel, text in json.loads(defaults.read_text()).items():
            _write(root, rel, text)
    config = cmdline.parse_grub_cfg((root / "boot/grub/grub.cfg").read_text())
    entry, _ = cmdline.default_entry(config, {})
    args = cmdline.entry_args(entry)
    image = cmdline.kernel_args(entry.linux)[0]
    _write(root, "proc/cmdline", " ".join(["BOOT_IMAGE=" + image] + args) + "\n")
    values = {}
    for token in args:
        key, _, value = cmdline.normalize(token).partition("=")
        values[key] = value
    isolated = values.get("isolcpus", "").split(",")
    isolated = ",".join(p for p in isolated if p and p[0].isdigit())
    _write(root, "sys/devices/system/cpu/isolated", isolated + "\n")
    _write(root, "sys/devices/system/cpu/nohz_full", (values.get("nohz_full") or "(null)") + "\n")
    _boot_hugepages(root, args)
    online = (root / "sys/devices/system/cpu/online").read_text().strip()
    pid1 = values.get("systemd.cpu_affinity") or _unit_values(root, "etc/systemd/system.conf.d/*.conf", "CPUAffinity")
    pid1 = format_cpulist(parse_cpulist(pid1)) if pid1 else online
    _write(root, "proc/1/status", "Name:\tsystemd\nPid:\t1\nCpus_allowed_list:\t%s\n" % pid1)
    for slice_dir in sorted((root / "sys/fs/cgroup").glob("*.slice")):
        allowed = _unit_values(root, "etc/systemd/system/%s.d/*.conf" % slice_dir.name, "AllowedCPUs")
        cpus = format_cpulist(parse_cpulist(allowed)) if allowed else online
        _write(root, "sys/fs/cgroup/%s/cpuset.cpus.effective" % slice_dir.name, cpus + "\n")
    unit_enabled = (root / "etc/systemd/system/multi-user.target.wants/bot4-hft-runtime.service").is_symlink()
    applier = root / "usr/local/sbin/bot4-hft-runtime"
    record["boot_unit"] = "not enabled"
    shutil.rmtree(root / "run/bot4-hft", ignore_errors=True)
    if unit_enabled and applier.exists() and not faults.get("boot_unit_fails"):
        fragment = root / "etc/bot4-hft/runtime.d/50-housekeeping.json"
        if fragment.exists():
            (root / "run/bot4-hft").mkdir(parents=True)
            shutil.copyfile(fragment, root / "run/bot4-hft/50-housekeeping.json")
        proc = subprocess.run([sys.executable, "-IS", str(applier), "--apply", "--root", str(root),
                               "--config", str(root / "etc/bot4-hft/runtime.d")],
                              capture_output=True, text=True, check=False)
        record["boot_unit"] = "success" if proc.returncode == 0 else "failed: " + proc.stdout[-500:]
    elif unit_enabled:
        record["boot_unit"] = "failed (fault boot_unit_fails)" if faults.get("boot_unit_fails") else "no applier"
    # faults.boot_sysctl "name=value": something at boot after the boot unit
    # (another sysctl.d file, a vendor agent) sets a planned sysctl otherwise.
    if faults.get("boot_sysctl"):
        name, _, value = faults["boot_sysctl"].partition("=")
        _write(root, "proc/sys/" + name.replace(".", "/"), value + "\n")
    record["boots"] = record.get("boots", 0) + 1
    _write(root, "proc/sys/kernel/random/boot_id", str(uuid.uuid4()) + "\n")
    save_sim(root, record)
    return record


def _boot_hugepages(root: Path, args: list) -> None:
    """hugepagesz=SIZE hugepages=N|node:N,... as the kernel reserves them at boot."""
    size_kb = None
    for token in args:
        key, _, value = cmdline.normalize(token).partition("=")
        if key == "hugepagesz":
            size_kb = _size_kb(value)
        elif key == "hugepages" and size_kb:
            nodes = sorted(p.name for p in (root / "sys/devices/system/node").glob("node[0-9]*"))
            counts = {}
            if ":" in value:
                for part in value.split(","):
                    node, _, count = part.partition(":")
                    counts["node" + node] = int(count)
            else:
                counts[nodes[0]] = int(value)
            for node in nodes:
                path = root / "sys/devices/system/node" / node / ("hugepages/hugepages-%dkB/nr_hugepages" % size_kb)
                if path.exists():
                    path.write_text("%d\n" % counts.get(node, 0))


def _size_kb(text: str) -> int:
    match = re.match(r"^([0-9]+)([KMG])?$", text.upper().rstrip("B"))
    if not match:
        return 0
    return int(match.group(1)) * {"K": 1, "M": 1024, "G": 1024 * 1024, None: 1}[match.group(2)] // (1 if match.group(2) else 1024)


def latency(root: Path, cpus: str) -> dict:
    """The stand-in of the latency tool on a node below a root (its CPUs
    cannot be measured): the tool's JSON (oslat's shape) with the node's
    simulated worst latency on every CPU, faults.latency_us (default 5 us)."""
    record = load_sim(root)
    worst = int(record.get("faults", {}).get("latency_us", 5))
    threads = {str(i): {"cpu": cpu, "min": 1, "avg": 2, "max": worst}
               for i, cpu in enumerate(parse_cpulist(cpus))}
    result = {"start_time": "simulated", "thread": threads}
    _write(root, "run/bot4-hft-latency.json", json.dumps(result) + "\n")
    return result


def inventory(directory: Path, names: list[str], kubeconfig: str | None) -> dict:
    hosts = {}
    for name in names:
        hosts[name] = {"hft_node_root": str(directory / "nodes" / name)}
    group_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "hft_profile": FLEET_PROFILE,
        # The simulation's commands (the reboot, the latency tool's stand-in).
        "hft_node_simulator": [sys.executable, str(HERE / "fleetctl.py")],
        "kernel_args_mkconfig_command": [sys.executable, str(MKCONFIG), "--root", "{{ hft_node_root }}",
                                         "-o", "{output}"],
        "kernel_args_script_check_command": [sys.executable, str(SCRIPT_CHECK)],
    }
    if kubeconfig:
        group_vars["hft_kubeconfig"] = kubeconfig
    return {"all": {"children": {"hft_nodes": {"hosts": hosts, "vars": group_vars}}}}


# One profile for the whole fleet: every shape plans it (auto CPU sets, the
# 2 MiB pages on node 0, allocated at runtime; no DPDK device, which a
# simulated node cannot bind).
FLEET_PROFILE = {
    "cpu": {"reserved": "auto", "isolated": "auto", "reserved_cores": 1, "isolation": "static"},
    "hugepages": {"default_size": "2M", "pages": [{"size": "2M", "count": 64, "node": 0}]},
}


def build_fleet(directory: Path, count: int, kubeconfig: str | None = None) -> Path:
    """``count`` nodes below ``directory``/nodes (made again from scratch) and
    the inventory ``directory``/hosts.yml that reaches them; its path."""
    if count < 1:
        raise SystemExit("--nodes: a fleet has at least one node, got %d" % count)
    directory = directory.resolve()
    names = [node_name(i) for i in range(1, count + 1)]
    if (directory / "nodes").exists():
        shutil.rmtree(directory / "nodes")
    for index, name in enumerate(names):
        build_node(directory / "nodes" / name, SHAPES[index % len(SHAPES)])
    hosts = directory / "hosts.yml"
    hosts.write_text(json.dumps(inventory(directory, names, kubeconfig), indent=2) + "\n")
    return hosts


def cmd_build(args: argparse.Namespace) -> int:
    print(build_fleet(Path(args.dir), args.nodes, args.kubeconfig))
    return 0


# ------------------------------------------------------------------ cluster
CLUSTERCTL = REPO / "lab" / "cluster" / "clusterctl.py"
WORKLOAD_NAMESPACE = "fleet-workload"


def kwok_objects(names: list[str], version: str, pods_per_node: int,
                 namespace: str = WORKLOAD_NAMESPACE) -> list[dict]:
    """A kwok Node per simulated node (the lab's tuned-worker shape, named
    like the inventory host, not yet labelled as tuned) and a Deployment of
    ``pods_per_node`` pods pinned to it, so that its drain evicts them."""
    objects = []
    for name, node in zip(names, fleet_nodes(len(names), version)):
        node["metadata"]["name"] = name
        node["metadata"]["labels"]["kubernetes.io/hostname"] = name
        node["metadata"]["labels"]["hft.bot4.io/tuned"] = "false"
        node["metadata"]["labels"]["hft.bot4.io/node-group"] = "fleet"
        node["status"]["addresses"][1]["address"] = name
        objects.append(node)
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name in names:
        labels = {"app": "fleet-workload", "fleet-node": name}
        objects.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "work-" + name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": pods_per_node, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeSelector": {"kubernetes.io/hostname": name},
                         "tolerations": [{"key": "hft.bot4.io/dedicated", "operator": "Exists"}],
                         "containers": [{"name": "work", "image": "localhost/bot4/fleet-work:v1"}]}}},
        })
    return objects


def kubectl(kubectl_bin: str, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([kubectl_bin, "--kubeconfig", kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("kubectl %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def cmd_cluster(args: argparse.Namespace) -> int:
    """kwok Nodes of the inventory's names in the lab cluster (started, or
    reused when it runs), their pods, and hft_kubeconfig in the inventory."""
    import time

    directory = Path(args.dir).resolve()
    hosts = directory / "hosts.yml"
    data = json.loads(hosts.read_text())
    group = data["all"]["children"]["hft_nodes"]
    names = sorted(group["hosts"])
    build = subprocess.run([sys.executable, str(CLUSTERCTL), "build"], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise SystemExit("clusterctl build failed:\n" + build.stderr[-3000:])
    kubectl_bin = json.loads(build.stdout)["bin"]["kubectl"]
    up = subprocess.run([sys.executable, str(CLUSTERCTL), "up", "--name", args.cluster, "--kwok-nodes", "0"],
                        capture_output=True, text=True, check=False)
    if up.returncode != 0:
        raise SystemExit("clusterctl up failed:\n" + up.stderr[-3000:])
    kubeconfig = up.stdout.strip().splitlines()[-1]
    version = json.loads(kubectl(kubectl_bin, kubeconfig, "version", "-o", "json"))["serverVersion"]["gitVersion"]
    items = kwok_objects(names, version, args.pods_per_node)
    kubectl(kubectl_bin, kubeconfig, "apply", "--server-side", "--field-manager=bot4-fleet", "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    deadline = time.monotonic() + args.timeout
    while True:
        pods = json.loads(kubectl(kubectl_bin, kubeconfig, "get", "pods", "-n", WORKLOAD_NAMESPACE, "-o", "json"))
        running = {p["spec"].get("nodeName") for p in pods["items"] if p["status"].get("phase") == "Running"}
        if set(names) <= running:
            break
        if time.monotonic() > deadline:
            raise SystemExit("pods not running on every fleet node after %ss (%d of %d nodes)"
                             % (args.timeout, len(set(names) & running), len(names)))
        time.sleep(1)
    group["vars"]["hft_kubeconfig"] = kubeconfig
    hosts.write_text(json.dumps(data, indent=2) + "\n")
    print(kubeconfig)
    return 0


def cmd_reboot(args: argparse.Namespace) -> int:
    try:
        record = boot(Path(args.root))
    except SimulationFault as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    print(json.dumps({"boots": record["boots"], "boot_unit": record["boot_unit"]}))
    return 0


def cmd_latency(args: argparse.Namespace) -> int:
    latency(Path(args.root), args.cpus)
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    root = Path(args.root)
    record = load_sim(root)
    if args.clear:
        record["faults"] = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        if key not in FAULTS:
            sys.stderr.write("unknown fault %r (one of %s)\n" % (key, ", ".join(FAULTS)))
            return 2
        record["faults"][key] = FAULTS[key](value)
    save_sim(root, record)
    print(json.dumps(record["faults"]))
    return 0


FAULTS = {"never_back": lambda v: v.lower() in ("1", "true", "yes"),
          "boot_sysctl": str,
          "boot_unit_fails": lambda v: v.lower() in ("1", "true", "yes"),
          "latency_us": int}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="the nodes' trees and the inventory")
    build.add_argument("--nodes", type=int, required=True)
    build.add_argument("--dir", required=True)
    build.add_argument("--kubeconfig", help="the cluster the inventory's hft_kubeconfig points at")
    build.set_defaults(func=cmd_build)
    cluster = sub.add_parser("cluster", help="kwok Nodes of the same names in a lab cluster, with pods")
    cluster.add_argument("--dir", required=True)
    cluster.add_argument("--cluster", default="fleet", help="the lab cluster's name (clusterctl.py --name)")
    cluster.add_argument("--pods-per-node", type=int, default=2)
    cluster.add_argument("--timeout", type=float, default=300)
    cluster.set_defaults(func=cmd_cluster)
    reboot = sub.add_parser("reboot", help="the simulated reboot of one node")
    reboot.add_argument("root")
    reboot.set_defaults(func=cmd_reboot)
    lat = sub.add_parser("latency", help="the latency tool's stand-in on one node")
    lat.add_argument("root")
    lat.add_argument("cpus")
    lat.set_defaults(func=cmd_latency)
    fault = sub.add_parser("fault", help="inject faults into one node (never_back, boot_unit_fails, boot_sysctl, latency_us)")
    fault.add_argument("root")
    fault.add_argument("--set", action="append", metavar="NAME=VALUE")
    fault.add_argument("--clear", action="store_true")
    fault.set_defaults(func=cmd_fault)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
