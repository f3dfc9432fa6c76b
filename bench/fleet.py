#!/usr/bin/env python3
"""The controller's cost on a simulated fleet (lab/fleet/fleetctl.py, docs/fleet.md).

For each fleet size N (default 10, 50, 100) the fleet's trees are written
afresh and each node gets a kwok Node of its name with pods in a lab cluster
of this benchmark's own (started here, stopped at the end). Then, per N:

  full rolling run   tune_nodes.yml on untuned nodes, once per batch size
                     (default 10% and 50%; the trees are written afresh before
                     each): cordon, drain, tune, simulated reboot (zero length),
                     verify, latency gate, uncordon
  no-op run          tune_nodes.yml again on the tuned fleet: must change
                     nothing, cordon nothing and reboot nothing
  drift check        drift.yml on the tuned fleet (exit 0)

and prints for each run its wall time, the controller's CPU seconds (user +
system of ansible-playbook and everything it started: with the local
connection the modules run on the controller too) in total and per node, the
changed tasks, the cordons and the simulated reboots. Figures, not pass/fail:
compare runs on the same host only, with nothing else running.

    bench/fleet.py [--nodes 10 50 100] [--batches 10% 50%] [--forks 10] [--json FILE]

A fleet size may carry its own batch sizes, N:B[,B...]: `--nodes 10:10%,50%,100%
100:10%` runs three full rolling runs of 10 nodes and one of 100.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLEETCTL = REPO / "lab" / "fleet" / "fleetctl.py"
CLUSTERCTL = REPO / "lab" / "cluster" / "clusterctl.py"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(hosts: Path, playbook: str, log: Path, forks: int, *extra: str) -> dict:
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PATH=f"{venv_bin}:{os.environ.get('PATH', '')}")
    cpu = children_cpu()
    started = time.monotonic()
    # In a session of its own: stopped, the playbook goes with its forks.
    with subprocess.Popen([str(venv_bin / "ansible-playbook"), "-i", str(hosts), "-f", str(forks),
                           str(REPO / "playbooks" / playbook), *extra],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    wall = time.monotonic() - started
    cpu = children_cpu() - cpu
    log.write_text(stdout + stderr)
    recap = stdout.split("PLAY RECAP")[-1]
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", recap))
    # Each batch has its cordon task: the nodes it changed, batch by batch.
    per_batch = [len(re.findall(r"^changed: \[", block.split("\nTASK [")[0], re.MULTILINE))
                 for block in stdout.split("TASK [bot4.hft.node_drain : Cordon the node and record why]")[1:]]
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "changed": changed,
            "cordons": sum(per_batch), "cordons_per_batch": [n for n in per_batch if n], "log": str(log)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", nargs="+", default=["10", "50", "100"],
                        help="fleet sizes, each N or N:B[,B...] with its own batch sizes")
    parser.add_argument("--batches", nargs="+", default=["10%", "50%"])
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--cluster", default="bench-fleet", help="the lab cluster's name (started and stopped here)")
    parser.add_argument("--json", help="write the figures here as well")
    args = parser.parse_args()
    # Stopped with SIGTERM (or SIGINT, which a background job ignores): the
    # running playbook is killed and the lab cluster stopped (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sys.path.insert(0, str(FLEETCTL.parent))
    import fleetctl
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    build = json.loads(subprocess.run([sys.executable, str(CLUSTERCTL), "build"], capture_output=True,
                                      text=True, check=True).stdout)
    kubectl = build["bin"]["kubectl"]
    up = subprocess.run([sys.executable, str(CLUSTERCTL), "up", "--name", args.cluster, "--kwok-nodes", "0"],
                        capture_output=True, text=True, check=True)
    kubeconfig = up.stdout.strip().splitlines()[-1]
    results = []
    header = {"host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_before": os.getloadavg()},
              "forks": args.forks, "nodes": args.nodes}
    try:
        version = json.loads(fleetctl.kubectl(kubectl, kubeconfig, "version", "-o", "json"))["serverVersion"]["gitVersion"]
        for spec in args.nodes:
            count_text, _, batch_text = spec.partition(":")
            count = int(count_text)
            batches = batch_text.split(",") if batch_text else args.batches
            names = [fleetctl.node_name(i) for i in range(1, count + 1)]
            fleetctl.kubectl(kubectl, kubeconfig, "apply", "--server-side", "--field-manager=bot4-bench", "-f", "-",
                             stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                               "items": fleetctl.kwok_objects(names, version, 2)}))
            for batch in batches:
                hosts = fleetctl.build_fleet(work / str(count), count, kubeconfig)
                roots = [work / str(count) / "nodes" / name for name in names]
                boots = sum(fleetctl.load_sim(root)["boots"] for root in roots)
                row = run_playbook(hosts, "tune_nodes.yml", work / f"{count}-full-{batch.strip('%')}.log",
                                   args.forks, "-e", f"hft_tune_batch={batch}", "-e", "node_picture_enabled=false")
                row.update(nodes=count, run="full rolling run", batch=batch,
                           reboots=sum(fleetctl.load_sim(root)["boots"] for root in roots) - boots)
                results.append(row)
                print_row(row)
                save(args.json, header, results)
            boots = sum(fleetctl.load_sim(root)["boots"] for root in roots)
            row = run_playbook(hosts, "tune_nodes.yml", work / f"{count}-noop.log", args.forks,
                               "-e", f"hft_tune_batch={batches[-1]}", "-e", "node_picture_enabled=false")
            row.update(nodes=count, run="no-op run", batch=batches[-1],
                       reboots=sum(fleetctl.load_sim(root)["boots"] for root in roots) - boots)
            results.append(row)
            print_row(row)
            save(args.json, header, results)
            row = run_playbook(hosts, "drift.yml", work / f"{count}-drift.log", args.forks,
                               "-e", f"drift_report_dir={work / str(count) / 'drift'}",
                               "-e", "node_picture_enabled=false")
            row.update(nodes=count, run="drift check", batch="-", reboots=0)
            results.append(row)
            print_row(row)
            save(args.json, header, results)
    finally:
        subprocess.run([sys.executable, str(CLUSTERCTL), "down", "--name", args.cluster, "--purge"],
                       capture_output=True, text=True, check=False)
    print(f"logs in {work}")
    return 0 if all(r["rc"] == 0 for r in results) else 1


def save(path: str | None, header: dict, results: list) -> None:
    """The figures so far (after every run: a stopped benchmark keeps them)."""
    if path:
        Path(path).write_text(json.dumps(dict(header, results=results), indent=2) + "\n")


def print_row(row: dict) -> None:
    print(f"N={row['nodes']:>4} {row['run']:<17} batch {row['batch']:>4}: {row['wall_s']:7.1f} s wall, "
          f"{row['cpu_s']:7.1f} s CPU ({row['cpu_s'] / row['nodes']:.2f} s/node), changed {row['changed']}, "
          f"cordons {row['cordons']} {row['cordons_per_batch'] or ''}, reboots {row['reboots']}, rc {row['rc']}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
