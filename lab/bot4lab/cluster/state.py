# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One lab cluster's state directory and its component processes.

${BOT4_LAB_DIR:-<repo>/.lab}/cluster-NAME/: cluster.json, pki/, logs/, run/
(a pidfile per component, with its start time), the kubeconfigs.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from pathlib import Path

from ..common import (file_lock, labs_dir, pid_alive, proc_start_time, processes_referencing, tail,
                      terminate, wait_until)
from .common import COMPONENTS, ClusterError, log


def state_dir(name: str) -> Path:
    return labs_dir() / f"cluster-{name}"


class Lab:
    """One lab cluster's state directory and processes."""

    def __init__(self, name: str):
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", name):
            raise ClusterError(f"invalid cluster name {name!r}: use lowercase letters, digits, '-'")
        self.name = name
        self.dir = state_dir(name)
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.run = self.dir / "run"
        self.children: dict[str, subprocess.Popen] = {}

    @property
    def meta_file(self) -> Path:
        return self.dir / "cluster.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    def meta(self) -> dict:
        try:
            return json.loads(self.meta_file.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def lock_file(self) -> Path:
        return labs_dir() / f".cluster-{self.name}.lock"

    def lock(self):
        return file_lock(self.lock_file)

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def read_pid(self, component: str) -> tuple[int, str] | None:
        try:
            data = json.loads(self.pidfile(component).read_text())
            return int(data["pid"]), str(data["start_time"])
        except (OSError, ValueError, KeyError):
            return None

    def alive(self, component: str) -> bool:
        entry = self.read_pid(component)
        return entry is not None and pid_alive(*entry)

    def start(self, component: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        logfile = self.logs / f"{component}.log"
        with open(logfile, "ab") as out:
            out.write(f"# {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=self.dir, env=env,
                                    start_new_session=True, close_fds=True)
        self.children[component] = proc
        start_time = None
        for _ in range(100):
            start_time = proc_start_time(proc.pid)
            if start_time is not None or proc.poll() is not None:
                break
            time.sleep(0.01)
        self.pidfile(component).write_text(json.dumps({"pid": proc.pid, "start_time": start_time,
                                                       "argv": argv}) + "\n")

    def check_running(self, component: str) -> None:
        proc = self.children.get(component)
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{component} exited with status {proc.returncode}; last lines of"
                               f" {self.logs / (component + '.log')}:\n"
                               f"{tail(self.logs / (component + '.log'), 25, indent='  ')}")

    def stop(self, component: str, grace: float) -> None:
        entry = self.read_pid(component)
        if entry is not None and pid_alive(*entry):
            terminate([entry[0]], grace, group=True)
        proc = self.children.pop(component, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile(component).unlink()

    def stop_all(self, grace: float = 15.0) -> list[int]:
        """Stop every component; return the PIDs that could not be stopped."""
        for component in reversed(COMPONENTS):
            self.stop(component, grace)
        # Anything else still naming this lab's directory (lost pidfile, a child
        # of a component) belongs to this lab too.
        leftovers = processes_referencing(self.dir)
        if leftovers:
            log(f"stopping leftover processes of {self.name}: {leftovers}")
            terminate(leftovers, grace, group=False)
        return processes_referencing(self.dir)


def wait_for(what: str, check, timeout: float, lab: Lab, components: tuple[str, ...],
             interval: float = 0.5) -> None:
    """Poll check() -> (ok, detail) until ok; fail at once if one of components
    has exited, and after timeout seconds with the components' log tails."""
    last = ""

    def done() -> bool:
        nonlocal last
        for component in components:
            lab.check_running(component)
        ok, detail = check()
        last = detail or last
        return ok

    if wait_until(done, timeout, interval):
        return
    logs = "\n".join(f"last lines of {lab.logs / (c + '.log')}:\n"
                     f"{tail(lab.logs / (c + '.log'), 25, indent='  ')}"
                     for c in components)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}"
                       f"{': ' + last if last else ''}\n{logs}")
