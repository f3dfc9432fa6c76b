#!/usr/bin/env python3
"""Isolation probe: what the scheduler and the IRQ subsystem may still put on
the isolated CPUs of a tuned lab node.

Boots a fresh lab VM (lab/labctl.py, its own lab name), runs the same
read-only probe on it before tuning and after playbooks/tune_nodes.yml (with
the lab's node group profile, inventories/lab/group_vars; its reboot
included), and prints, for each, counts per class and the names of what is
left on the isolated CPUs:

  kernel threads
    per-CPU               bound to one CPU (ksoftirqd/N, kworker/N:M ...):
                          they serve that CPU and are left alone
    housekeeping          allowed only on housekeeping (non-isolated) CPUs
    movable, isolated     may run on an isolated CPU and accept a new
                          affinity: the target is 0
    kernel-bound, isolated  may run on an isolated CPU but refuse a new
                          affinity (PF_NO_SETAFFINITY: unbound workqueue
                          workers and rescuers, which follow the workqueue
                          cpumasks instead)
  IRQs (/proc/irq/N)
    housekeeping          smp_affinity on housekeeping CPUs only
    movable, isolated     smp_affinity includes an isolated CPU and the
                          kernel did not refuse a new one: the target is 0
    managed, isolated     managed by the kernel per queue (the node's
                          applier recorded that the kernel refused a new
                          affinity with EIO this boot); isolcpus=managed_irq
                          keeps their effective affinity off isolated CPUs
                          where it can (the effective CPUs are shown)

The probe reads /proc and /sys only; the isolated set is the kernel's
(/sys/devices/system/cpu/isolated, else nohz_full), and before tuning the
one the node has after tuning. The VM is destroyed at the end unless --keep.

    bench/isolation.py [--lab-name bench-iso] [--keep] [--json FILE]
    bench/isolation.py --lab-name NAME --probe-only   # a running lab's node
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABCTL = os.path.join(REPO, "lab", "labctl.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from node_tune import bench_dirs, labctl, machine, run_playbook  # noqa: E402  (bench/ is not a package)

# Runs on the node (python3 -), standard library only, reads only.
PROBE = r'''
import json, os
PF_KTHREAD, PF_NO_SETAFFINITY = 0x00200000, 0x04000000

def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None

kthreads = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    stat = read("/proc/%s/stat" % pid)
    status = read("/proc/%s/status" % pid)
    if not stat or not status:
        continue
    flags = int(stat.rsplit(")", 1)[1].split()[6])
    if not flags & PF_KTHREAD:
        continue
    cpus = [l.split(":", 1)[1].strip() for l in status.splitlines() if l.startswith("Cpus_allowed_list:")]
    kthreads.append({"pid": int(pid), "comm": stat.split("(", 1)[1].rsplit(")", 1)[0],
                     "no_setaffinity": bool(flags & PF_NO_SETAFFINITY), "cpus": cpus[0] if cpus else ""})
names = {}
for line in (read("/proc/interrupts") or "").splitlines()[1:]:
    head, _, rest = line.partition(":")
    if head.strip().isdigit():
        names[int(head)] = " ".join(rest.split()[len(rest.split()) - 1:])
irqs = []
for entry in os.listdir("/proc/irq"):
    if entry.isdigit():
        irqs.append({"irq": int(entry), "name": read("/sys/kernel/irq/%s/actions" % entry) or names.get(int(entry), ""),
                     "cpus": read("/proc/irq/%s/smp_affinity_list" % entry) or "",
                     "effective": read("/proc/irq/%s/effective_affinity_list" % entry) or ""})
try:
    managed = json.loads(read("/run/bot4-hft/managed-irqs.json") or "{}")
    boot_id = read("/proc/sys/kernel/random/boot_id")
    managed = managed.get("irqs", []) if managed.get("boot_id") == boot_id else []
except ValueError:
    managed = []
print(json.dumps({"online": read("/sys/devices/system/cpu/online"),
                  "isolated": read("/sys/devices/system/cpu/isolated") or "",
                  "nohz_full": read("/sys/devices/system/cpu/nohz_full") or "",
                  "cmdline": read("/proc/cmdline"), "kernel": read("/proc/sys/kernel/osrelease"),
                  "kthreads": kthreads, "irqs": irqs, "managed_irqs": managed}))
'''


def cpulist(text):
    cpus = set()
    for part in (text or "").replace("(null)", "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def probe(lab_name):
    proc = subprocess.run([sys.executable, LABCTL, "ssh", "--name", lab_name, "1", "python3", "-"],
                          input=PROBE, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def classify(raw, isolated):
    """Counts per class, and the names of what may still run on an isolated CPU."""
    k = {"per_cpu": 0, "housekeeping": 0, "movable_isolated": [], "kernel_bound_isolated": []}
    for thread in sorted(raw["kthreads"], key=lambda t: t["pid"]):
        cpus = cpulist(thread["cpus"])
        if len(cpus) == 1:
            k["per_cpu"] += 1
        elif not cpus & isolated:
            k["housekeeping"] += 1
        else:
            key = "kernel_bound_isolated" if thread["no_setaffinity"] else "movable_isolated"
            k[key].append("%s (pid %d, CPUs %s)" % (thread["comm"], thread["pid"], thread["cpus"]))
    managed = set(raw["managed_irqs"])
    i = {"housekeeping": 0, "movable_isolated": [], "managed_isolated": []}
    for irq in sorted(raw["irqs"], key=lambda q: q["irq"]):
        if not cpulist(irq["cpus"]) & isolated:
            i["housekeeping"] += 1
            continue
        text = "%d %s (CPUs %s, effective %s)" % (irq["irq"], irq["name"] or "-", irq["cpus"], irq["effective"] or "-")
        i["managed_isolated" if irq["irq"] in managed else "movable_isolated"].append(text)
    return {"isolated": ",".join(str(c) for c in sorted(isolated)), "kernel": raw["kernel"],
            "kthreads_total": len(raw["kthreads"]), "kthreads": k, "irqs_total": len(raw["irqs"]), "irqs": i}


def show(label, figures):
    k, i = figures["kthreads"], figures["irqs"]
    print("%s (isolated CPUs %s, kernel %s)" % (label, figures["isolated"], figures["kernel"]))
    print("  kernel threads %4d: per-CPU %d, housekeeping %d, movable on isolated %d, kernel-bound on isolated %d"
          % (figures["kthreads_total"], k["per_cpu"], k["housekeeping"], len(k["movable_isolated"]),
             len(k["kernel_bound_isolated"])))
    print("  IRQs           %4d: housekeeping %d, movable on isolated %d, managed on isolated %d"
          % (figures["irqs_total"], i["housekeeping"], len(i["movable_isolated"]), len(i["managed_isolated"])))
    for title, names in (("movable kernel threads", k["movable_isolated"]),
                         ("kernel-bound threads", k["kernel_bound_isolated"]),
                         ("movable IRQs", i["movable_isolated"]), ("managed IRQs", i["managed_isolated"])):
        if names:
            print("  %s on isolated CPUs:\n    %s" % (title, "\n    ".join(names)))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-name", default="bench-iso")
    parser.add_argument("--keep", action="store_true", help="leave the VM running")
    parser.add_argument("--probe-only", action="store_true", help="probe a running lab's first node, nothing else")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures = {"lab_name": args.lab_name}
    if args.probe_only:
        raw = probe(args.lab_name)
        figures["probe"] = classify(raw, cpulist(raw["isolated"] or raw["nohz_full"]))
        show("probe", figures["probe"])
        return 0
    _state, inventory_dir, logs = bench_dirs(args.lab_name)
    try:
        labctl("up", "--name", args.lab_name, "--nodes", "1", "--inventory", os.path.join(inventory_dir, "hosts.yml"))
        figures["machine"] = machine(args.lab_name)
        before = probe(args.lab_name)
        started = time.monotonic()
        run_playbook(inventory_dir, os.path.join(logs, "tune.json"))
        figures["tune_seconds"] = round(time.monotonic() - started, 1)
        after = probe(args.lab_name)
        isolated = cpulist(after["isolated"] or after["nohz_full"])
        figures["untuned"] = classify(before, isolated)
        figures["tuned"] = classify(after, isolated)
        show("untuned node", figures["untuned"])
        show("tuned node, after its reboot", figures["tuned"])
    finally:
        if not args.keep:
            labctl("destroy", "--name", args.lab_name)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
