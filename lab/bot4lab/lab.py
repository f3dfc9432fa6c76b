"""A lab: named set of node VMs with their state directory.

State directory ``${BOT4_LAB_DIR:-<repo>/.lab}/<name>/``::

    lab.json               lab config and nodes (ports, MACs, image)
    id_ed25519[.pub]       per-lab SSH key (0600), reaches the VMs via fw_cfg
    known_hosts            per-lab SSH known hosts (host keys are made per VM)
    inventory.yml          Ansible inventory (default location)
    <node>.qcow2           node disk: overlay on the cached base image
    <node>.pid             QEMU pidfile
    <node>.qmp             QMP socket (graceful poweroff)
    <node>.console.log     serial console, appended across boots and restarts
    <node>.qemu.json       QEMU argv of the current and of every past start
    <node>.qemu.log        QEMU's own error output
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from . import accel as accel_mod
from . import image as image_mod
from . import inventory as inv
from . import qemu
from .common import LabError, labs_dir, log, read_json, require_tools, run, tail, write_atomic, write_json
from .ports import PortsExhausted, allocate_ports, port_is_free

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
SSH_TIMEOUT = 480.0
POWERDOWN_TIMEOUT = 120.0
POWERDOWN_REPEAT = 20.0
KEY_NAME = "id_ed25519"

# The kernel's first console line of every boot.
KERNEL_BANNER = re.compile(rb"\[\s*0\.000000\] Linux version ")


def node_name(lab: str, index: int) -> str:
    return f"{lab}-node-{index}"


def mac_for(lab: str, node: str, role: str) -> str:
    """Stable, locally administered-range MAC (QEMU's 52:54:00 OUI) per lab/node/NIC."""
    digest = hashlib.sha256(f"{lab}/{node}/{role}".encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


class Lab:
    def __init__(self, name: str, root: Optional[Path] = None) -> None:
        if not NAME_RE.match(name):
            raise LabError(f"invalid lab name {name!r}: lower-case letters, digits and '-', "
                           "at most 31 characters")
        self.name = name
        self.dir = (root or labs_dir()) / name

    # ------------------------------------------------------------------ paths / state
    def path(self, node: str, suffix: str) -> Path:
        return self.dir / f"{node}{suffix}"

    @property
    def key(self) -> Path:
        return self.dir / KEY_NAME

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    def state(self) -> dict:
        return read_json(self.state_file, {}) or {}

    def save(self, state: dict) -> None:
        write_json(self.state_file, state)

    def exists(self) -> bool:
        return self.state_file.exists()

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabError(f"lab {self.name} is busy (another labctl holds {self.dir}/.lock)")
            yield

    def pid(self, node: str) -> Optional[int]:
        pidfile = self.path(node, ".pid")
        pid = qemu.read_pid(pidfile)
        return pid if qemu.is_our_qemu(pid, str(pidfile)) else None

    def ssh_argv(self, node: dict, batch: bool = True, options: Sequence[str] = ()) -> List[str]:
        """ssh to node as root with the lab's key and known_hosts; options: more -o options."""
        argv = ["ssh", "-i", str(self.key), "-p", str(node["ssh_port"]),
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"HostKeyAlias={node['name']}",
                "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                # As ansible.cfg's timeout: the timeout covers the banner exchange,
                # which a TCG guest sharing the host with other VMs can take >10 s for.
                "-o", "ConnectTimeout=30"]
        if batch:
            argv += ["-o", "BatchMode=yes"]
        for option in options:
            argv += ["-o", option]
        return argv + ["root@127.0.0.1"]

    # ------------------------------------------------------------------ up
    def up(self, nodes: int = 1, inventory: Optional[Path] = None, group: str = "hft_nodes",
           hardware: Optional[qemu.Hardware] = None, accel_choice: Optional[str] = None,
           ssh_timeout: float = SSH_TIMEOUT) -> dict:
        require_tools(qemu.QEMU_BINARY, "qemu-img", "ssh", "ssh-keygen")
        if nodes < 1:
            raise LabError("--nodes must be at least 1")
        with self.locked():
            state = self.state()
            known = state.get("nodes", [])
            if len(known) > nodes:
                raise LabError(f"lab {self.name} has {len(known)} nodes; it cannot shrink to "
                               f"{nodes} (destroy it, or ask for --nodes {len(known)})")
            hw = hardware or qemu.Hardware(**state.get("hardware", {}))
            base = self._base_image(state, accel_choice)
            kernel = base.parent / "vmlinuz"
            accel = accel_mod.resolve(accel_choice, kernel)
            self._ensure_key()
            manifest = image_mod.manifest_of(base)
            state.update({
                "name": self.name, "dir": str(self.dir), "group": group,
                "inventory": str((inventory or self.dir / "inventory.yml").resolve()),
                "hardware": asdict(hw),
                "image": {"path": str(base), "image_id": manifest.get("image_id"),
                          "build_id": manifest.get("build_id")},
            })
            state.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            reserved = all_reserved_ports(exclude=self.name)
            try:
                new = allocate_ports(nodes - len(known), reserved | {n["ssh_port"] for n in known})
            except PortsExhausted as exc:
                raise LabError(str(exc)) from exc
            for i, port in enumerate(new, start=len(known) + 1):
                name = node_name(self.name, i)
                known.append({"name": name, "index": i, "ssh_port": port,
                              "mgmt_mac": mac_for(self.name, name, "mgmt"),
                              "data_mac": mac_for(self.name, name, "data")})
            state["nodes"] = known
            self.save(state)

            started: List[dict] = []
            try:
                for node in known:
                    if self.pid(node["name"]):
                        log(f"{node['name']}: already running (pid {self.pid(node['name'])})")
                        continue
                    self._start(state, node, base, hw, accel)
                    started.append(node)
                    self.save(state)
                self._wait_ssh(known, started, ssh_timeout)
            except BaseException:
                if started:
                    log(f"up failed: stopping the {len(started)} node(s) started by this run")
                    for node in started:
                        self._kill(node["name"])
                raise
            state["accel"] = accel
            self.save(state)
            self.write_inventory(state)
            return self.status()

    def _base_image(self, state: dict, accel_choice: Optional[str]) -> Path:
        recorded = state.get("image", {})
        if recorded.get("path") and any(self.path(n["name"], ".qcow2").exists()
                                        for n in state.get("nodes", [])):
            base = Path(recorded["path"])
            if not base.exists() or image_mod.manifest_of(base).get("build_id") != recorded.get("build_id"):
                raise LabError(f"the base image of lab {self.name} ({base}) was rebuilt or removed; "
                               f"its node disks no longer match it: destroy the lab and start again")
            current = image_mod.find_image(image_mod.ImageSpec())
            if current != base:
                log(f"note: lab {self.name} keeps its image {recorded.get('image_id')}; the "
                    "image sources have changed since (destroy the lab to use the new image)")
            return base
        return image_mod.ensure_image(accel_choice=accel_choice)

    def _ensure_key(self) -> None:
        if self.key.exists():
            return
        self.key.with_suffix(".pub").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"bot4-lab-{self.name}",
             "-f", str(self.key)], capture_output=True)
        os.chmod(self.key, 0o600)

    def node_spec(self, node: dict, hw: qemu.Hardware, accel: str) -> qemu.NodeSpec:
        name = node["name"]
        return qemu.NodeSpec(
            name=name, disk=self.path(name, ".qcow2"), ssh_port=node["ssh_port"],
            mgmt_mac=node["mgmt_mac"], data_mac=node["data_mac"],
            authorized_keys=self.key.with_suffix(".pub"),
            console_log=self.path(name, ".console.log"), qmp_socket=self.path(name, ".qmp"),
            pidfile=self.path(name, ".pid"), accel=accel, hardware=hw)

    def _start(self, state: dict, node: dict, base: Path, hw: qemu.Hardware, accel: str) -> None:
        name = node["name"]
        disk = self.path(name, ".qcow2")
        if not disk.exists():
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
                 str(disk)], capture_output=True)
            log(f"{name}: new disk {disk.name} (backing file {base})")
        else:
            log(f"{name}: restarting from its existing disk")
        for attempt in range(3):
            if not port_is_free(node["ssh_port"]):
                reserved = all_reserved_ports(exclude=self.name) | {
                    n["ssh_port"] for n in state["nodes"] if n is not node}
                try:
                    port = allocate_ports(1, reserved | {node["ssh_port"]})[0]
                except PortsExhausted as exc:
                    raise LabError(str(exc)) from exc
                old, node["ssh_port"] = node["ssh_port"], port
                log(f"{name}: port {old} is taken, using {node['ssh_port']}")
            spec = self.node_spec(node, hw, accel)
            argv = qemu.node_argv(spec)
            for stale in (spec.pidfile, spec.qmp_socket):
                stale.unlink(missing_ok=True)
            errlog = self.path(name, ".qemu.log")
            with open(errlog, "ab") as err:
                err.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start\n".encode())
                err.flush()
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err).returncode
            pid = qemu.read_pid(spec.pidfile)
            if rc == 0 and qemu.is_our_qemu(pid, str(spec.pidfile)):
                self._record_argv(name, argv, accel, pid)
                node["started_at"] = time.time()
                log(f"{name}: started (pid {pid}, ssh 127.0.0.1:{node['ssh_port']}, {accel})")
                return
            if pid:
                qemu.kill(pid, str(spec.pidfile))
            message = tail(errlog, 5)
            if "host forwarding" in message and attempt < 2:
                continue  # lost a race for the port: pick another
            raise LabError(f"{name}: QEMU failed to start (exit {rc}):\n{message}")

    def _record_argv(self, name: str, argv: List[str], accel: str, pid: int) -> None:
        path = self.path(name, ".qemu.json")
        record = read_json(path, {}) or {}
        entry = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "pid": pid, "accel": accel, "argv": argv}
        record["current"] = entry
        record.setdefault("history", []).append(entry)
        write_json(path, record)

    def _wait_ssh(self, nodes: List[dict], started: List[dict], timeout: float) -> None:
        results: Dict[str, Optional[str]] = {}

        def waiter(node: dict) -> None:
            try:
                self.wait_ssh(node, timeout)
                results[node["name"]] = None
            except Exception as exc:  # reported for this node, never lost in the thread
                results[node["name"]] = str(exc) if isinstance(exc, LabError) else \
                    f"{node['name']}: {type(exc).__name__}: {exc}"

        threads = [threading.Thread(target=waiter, args=(n,), daemon=True) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = {n["name"]: results.get(n["name"], f"{n['name']}: no result")
                  for n in nodes if results.get(n["name"], "?")}
        if failed:
            raise LabError("\n\n".join(failed.values()))

    def wait_ssh(self, node: dict, timeout: float = SSH_TIMEOUT) -> float:
        """Wait until root can log in over SSH; returns the seconds waited."""
        name, port = node["name"], node["ssh_port"]
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if not self.pid(name):
                raise LabError(f"{name}: QEMU exited while booting; console tail:\n"
                               f"{tail(self.path(name, '.console.log'))}")
            if _ssh_banner(port):
                try:
                    proc = subprocess.run(self.ssh_argv(node) + ["true"], stdin=subprocess.DEVNULL,
                                          capture_output=True, timeout=60)
                except subprocess.TimeoutExpired:
                    continue
                if proc.returncode == 0:
                    took = time.monotonic() - t0
                    since = time.time() - node.get("started_at", time.time())
                    log(f"{name}: SSH ready (QEMU started {since:.0f}s ago)")
                    return took
            time.sleep(2)
        raise LabError(f"{name}: no SSH on 127.0.0.1:{port} after {timeout:.0f}s; console tail "
                       f"({self.path(name, '.console.log')}):\n{tail(self.path(name, '.console.log'))}")

    def write_inventory(self, state: dict) -> Path:
        path = Path(state["inventory"])
        nodes = [inv.InventoryNode(n["name"], n["ssh_port"], {
            "bot4_lab_state_dir": str(self.dir),
            "bot4_lab_console_log": str(self.path(n["name"], ".console.log")),
            "bot4_lab_mgmt_mac": n["mgmt_mac"],
            "bot4_lab_data_nic_mac": n["data_mac"],
        }) for n in state["nodes"]]
        text = inv.render(self.name, state["group"], nodes, str(self.key), str(self.known_hosts))
        write_atomic(path, text)
        return path

    # ------------------------------------------------------------------ down / destroy
    def down(self, timeout: float = POWERDOWN_TIMEOUT) -> None:
        with self.locked():
            self._down(timeout)

    def _down(self, timeout: float) -> None:
        nodes = self.state().get("nodes", [])
        running = [(n["name"], self.pid(n["name"])) for n in nodes]
        running = [(name, pid) for name, pid in running if pid]

        def powerdown(name: str, pid: int, first: bool) -> None:
            try:
                qemu.qmp_command(self.path(name, ".qmp"), "system_powerdown")
                if first:
                    log(f"{name}: ACPI power-down requested (pid {pid})")
            except (qemu.QMPError, OSError, ValueError) as exc:
                if first:
                    log(f"{name}: QMP failed ({exc}); will kill")

        for name, pid in running:
            powerdown(name, pid, True)
        # A guest still booting ignores the power button: press it again now and
        # then until the deadline, then kill what is left.
        deadline = time.monotonic() + timeout
        pending = dict(running)
        next_press = time.monotonic() + POWERDOWN_REPEAT
        while pending and time.monotonic() < deadline:
            for name, pid in list(pending.items()):
                if not qemu.is_our_qemu(pid, str(self.path(name, ".pid"))):
                    log(f"{name}: powered off")
                    del pending[name]
            if pending and time.monotonic() >= next_press:
                for name, pid in pending.items():
                    powerdown(name, pid, False)
                next_press = time.monotonic() + POWERDOWN_REPEAT
            time.sleep(0.5)
        for name, pid in pending.items():
            log(f"{name}: no power-off after {timeout:.0f}s, killing pid {pid}")
            self._kill(name)
        leftover = [n["name"] for n in nodes if self.pid(n["name"])]
        if leftover:
            raise LabError(f"QEMU still running for: {', '.join(leftover)}")
        for n in nodes:
            for suffix in (".pid", ".qmp"):
                self.path(n["name"], suffix).unlink(missing_ok=True)

    def _kill(self, name: str) -> None:
        pidfile = self.path(name, ".pid")
        pid = qemu.read_pid(pidfile)
        if pid and not qemu.kill(pid, str(pidfile)):
            raise LabError(f"{name}: could not kill QEMU pid {pid}")
        pidfile.unlink(missing_ok=True)

    def destroy(self, timeout: float = POWERDOWN_TIMEOUT) -> None:
        if not self.dir.exists():
            log(f"lab {self.name}: nothing to destroy")
            return
        with self.locked():
            state = self.state()
            self._down(timeout)
            inventory = state.get("inventory")
            if inventory and not Path(inventory).is_relative_to(self.dir):
                p = Path(inventory)
                if p.exists() and p.read_text().startswith(inv.HEADER.format(lab=self.name)):
                    p.unlink()
            shutil.rmtree(self.dir)
        log(f"lab {self.name}: destroyed")

    # ------------------------------------------------------------------ status
    def boots(self, name: str) -> int:
        """How many times node NAME's kernel has booted, from its serial console.

        The console log is appended across boots and the kernel prints its
        banner once per boot, whoever rebooted it, so this counts real boots
        independently of anything the guest reports."""
        try:
            return len(KERNEL_BANNER.findall(self.path(name, ".console.log").read_bytes()))
        except FileNotFoundError:
            return 0

    def status(self) -> dict:
        state = self.state()
        nodes = []
        for n in state.get("nodes", []):
            pid = self.pid(n["name"])
            nodes.append({
                "name": n["name"], "running": pid is not None, "pid": pid,
                "ssh_port": n["ssh_port"], "ansible_host": "127.0.0.1",
                "mgmt_mac": n["mgmt_mac"], "data_nic_mac": n["data_mac"],
                "disk": str(self.path(n["name"], ".qcow2")),
                "console_log": str(self.path(n["name"], ".console.log")),
                "boots": self.boots(n["name"]),
                "qemu_argv_file": str(self.path(n["name"], ".qemu.json")),
            })
        return {"name": self.name, "state_dir": str(self.dir), "exists": self.exists(),
                "inventory": state.get("inventory"), "group": state.get("group"),
                "accel": state.get("accel"), "hardware": state.get("hardware"),
                "image": state.get("image"), "ssh_key": str(self.key),
                "running": sum(1 for n in nodes if n["running"]), "nodes": nodes}

    def find_node(self, ref: str) -> dict:
        for n in self.state().get("nodes", []):
            if ref in (n["name"], str(n["index"]), f"node-{n['index']}"):
                return n
        raise LabError(f"lab {self.name} has no node {ref!r}")


def _ssh_banner(port: int) -> bool:
    """True once sshd in the guest answers (QEMU's forwarder accepts TCP earlier)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.settimeout(5)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def all_labs(root: Optional[Path] = None) -> List[Lab]:
    root = root or labs_dir()
    if not root.is_dir():
        return []
    return [Lab(p.name, root) for p in sorted(root.iterdir())
            if (p / "lab.json").exists() and NAME_RE.match(p.name)]


def all_reserved_ports(exclude: Optional[str] = None) -> set:
    """Ports recorded by every lab (stopped ones too, so that they keep theirs)."""
    ports = set()
    for lab in all_labs():
        if lab.name != exclude:
            ports |= {n["ssh_port"] for n in lab.state().get("nodes", [])}
    return ports


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
