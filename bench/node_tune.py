#!/usr/bin/env python3
"""Benchmark of a node tuning run on a lab VM.

Boots a fresh lab VM (lab/labctl.py, its own lab name), then runs
playbooks/tune_nodes.yml with the lab's node group profile
(inventories/lab/group_vars) twice and prints, for the node:

  first converge     wall time, tasks run and changed on the node, reboots
  no-op re-run       wall time, changed tasks (must be 0), reboots (must be 0)
  drift check        wall time of playbooks/drift.yml on the tuned node (exit 0)
  changed tuning     wall time, changed tasks and reboots (1) of a run with the
                     node scenario's profile change (another isolated set)

Reboots are counted from the VM's serial console (one kernel banner per boot),
independently of what the playbook reports. The VM is destroyed at the end
unless --keep is given; each run's JSON report (every task, its duration and
result) stays in .cache/bench/<lab name>/. Figures under QEMU TCG are much slower than bare metal;
compare runs on the same host only.

    bench/node_tune.py [--lab-name bench-tune] [--keep] [--json FILE]
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


def labctl(*args):
    return subprocess.run([sys.executable, LABCTL, *args], check=True, capture_output=True, text=True).stdout


def boots(lab_name):
    return json.loads(labctl("status", "--name", lab_name))["nodes"][0]["boots"]


def machine(lab_name):
    """The host and the lab VM the figures were measured on."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kb = int(handle.readline().split()[1])
    status = json.loads(labctl("status", "--name", lab_name))
    return {"host": {"cpu": model, "cpus": os.cpu_count(), "memory_gib": round(mem_kb / 1048576, 1),
                     "kernel": os.uname().release},
            "vm": {"accel": status.get("accel"), "hardware": status.get("hardware"),
                   "image": status.get("image")}}


def run_playbook(inventory_dir, log_path, playbook="tune_nodes.yml", extra=()):
    """Run a playbook; return (seconds, the recap's counts per host)."""
    # Only the JSON report on stdout: no other callback (e.g. profile_tasks) may print there.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json")
    # The collection from this checkout (make venv links it), as in the Makefile.
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
    started = time.monotonic()
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory_dir,
         os.path.join(REPO, "playbooks", playbook), *extra],
        capture_output=True, text=True, env=env, check=False, cwd=REPO)
    seconds = time.monotonic() - started
    with open(log_path, "w", encoding="utf-8") as handle:
        handle.write(proc.stdout)
        handle.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{playbook} failed (rc {proc.returncode}); see {log_path}")
    report = json.loads(proc.stdout)
    return seconds, report["stats"]


def bench_dirs(lab_name):
    """(the lab's state directory, the bench inventory with the lab's group_vars,
    the directory of the playbooks' JSON reports, which outlive the VM)."""
    state = os.path.join(os.environ.get("BOT4_LAB_DIR", os.path.join(REPO, ".lab")), lab_name)
    inventory_dir = os.path.join(state, "bench-inventory")
    os.makedirs(inventory_dir, exist_ok=True)
    link = os.path.join(inventory_dir, "group_vars")
    if not os.path.islink(link):
        os.symlink(os.path.join(REPO, "inventories", "lab", "group_vars"), link)
    logs = os.path.join(REPO, ".cache", "bench", lab_name)
    os.makedirs(logs, exist_ok=True)
    return state, inventory_dir, logs


def changed_profile():
    """The lab group's profile with the node scenario's change applied (a new isolated set)."""
    import yaml  # the project's virtualenv has PyYAML (ansible-core needs it)

    def merge(base, over):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    with open(os.path.join(REPO, "inventories", "lab", "group_vars", "hft_nodes.yml"), encoding="utf-8") as handle:
        profile = yaml.safe_load(handle)["hft_profile"]
    with open(os.path.join(REPO, "molecule", "node", "vars", "profile_change.yml"), encoding="utf-8") as handle:
        change = yaml.safe_load(handle)["node_scenario_profile_change"]
    return merge(profile, change)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-name", default="bench-tune")
    parser.add_argument("--keep", action="store_true", help="leave the VM running")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    # A stopped benchmark still destroys its VM (the finally below), and the
    # playbook it was running is killed with it (subprocess.run on an exception).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    state, inventory_dir, logs = bench_dirs(args.lab_name)
    figures = {"lab_name": args.lab_name}
    try:
        started = time.monotonic()
        labctl("up", "--name", args.lab_name, "--nodes", "1",
               "--inventory", os.path.join(inventory_dir, "hosts.yml"))
        figures["boot_to_ssh_s"] = round(time.monotonic() - started, 1)
        figures["machine"] = machine(args.lab_name)
        change = os.path.join(state, "bench-profile-change.json")
        with open(change, "w", encoding="utf-8") as handle:
            json.dump({"hft_profile": changed_profile()}, handle)
        runs = [("first_converge", "first converge", "tune_nodes.yml", ()),
                ("noop_rerun", "no-op re-run", "tune_nodes.yml", ()),
                ("drift_check", "drift check", "drift.yml",
                 ("-e", "drift_report_dir=" + os.path.join(state, "bench-drift"))),
                ("changed_tuning", "changed tuning", "tune_nodes.yml", ("-e", "@" + change))]
        for key, label, playbook, extra in runs:
            before = boots(args.lab_name)
            seconds, stats = run_playbook(inventory_dir, os.path.join(logs, f"{key}.json"), playbook, extra)
            # The node's own recap only: drift.yml's report files are written on
            # the controller (localhost). Tasks run = ok (changed ones included)
            # + failed; skipped tasks are counted apart.
            node = [s for host, s in stats.items() if host != "localhost"]
            figures[key] = {"seconds": round(seconds, 1),
                            "changed_tasks": sum(s["changed"] for s in node),
                            "tasks_run": sum(s["ok"] + s["failures"] for s in node),
                            "tasks_skipped": sum(s["skipped"] for s in node),
                            "reboots": boots(args.lab_name) - before}
            print(f"{label:16s} {seconds:8.1f} s  tasks run {figures[key]['tasks_run']:4d} "
                  f"(skipped {figures[key]['tasks_skipped']:4d})  changed {figures[key]['changed_tasks']:3d}  "
                  f"reboots {figures[key]['reboots']}", flush=True)
    finally:
        if not args.keep:
            labctl("destroy", "--name", args.lab_name)
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
