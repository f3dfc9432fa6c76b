"""Choose the QEMU accelerator: KVM only where it has been seen to boot a guest.

On some hosts /dev/kvm exists and KVM_CREATE_VM succeeds, yet a guest never
leaves the firmware (broken nested virtualisation). So KVM is *probed by
booting*: the node kernel is started under ``-accel kvm`` without a disk and the
serial console is watched for the kernel's banner. The answer is cached per host
boot (``/proc/sys/kernel/random/boot_id``).

Order of precedence: ``BOT4_LAB_ACCEL`` (kvm|tcg), then ``--accel``, then the
probe (``auto``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from . import qemu
from .common import LabError, die_with_parent, cache_dir, host_boot_id, log, read_json, write_json

ENV = "BOT4_LAB_ACCEL"
CHOICES = ("auto", "kvm", "tcg")
PROBE_SECONDS = 15.0
BANNER = b"Linux version"
last_probe_detail = ""


def requested(cli_value: Optional[str] = None) -> str:
    env = os.environ.get(ENV, "").strip().lower()
    if env:
        if env not in ("kvm", "tcg", "auto"):
            raise LabError(f"{ENV}={env!r}: expected kvm, tcg or auto")
        return env
    return cli_value or "auto"


def probe_cache_file() -> Path:
    return cache_dir() / "accel-probe.json"


def cached_probe(boot_id: str) -> Optional[str]:
    data = read_json(probe_cache_file(), {}) or {}
    if data.get("boot_id") == boot_id and data.get("accel") in ("kvm", "tcg"):
        return data["accel"]
    return None


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def probe_kvm(kernel: Path, qemu_bin: str = qemu.QEMU_BINARY, seconds: float = PROBE_SECONDS) -> bool:
    """Boot ``kernel`` under KVM for up to ``seconds``; True if it printed its banner."""
    with tempfile.TemporaryDirectory(prefix="bot4-accel-probe-") as tmp:
        console = Path(tmp) / "console.log"
        argv = qemu.probe_argv(qemu_bin, "kvm", kernel, console)
        errors = Path(tmp) / "qemu.err"
        with open(errors, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    preexec_fn=die_with_parent)
        seen = False
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                if console.exists() and BANNER in console.read_bytes():
                    seen = True
                    break
                if proc.poll() is not None:
                    seen = console.exists() and BANNER in console.read_bytes()
                    break
                time.sleep(0.25)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if not seen:
            why = errors.read_text(errors="replace").strip().splitlines()
            global last_probe_detail
            last_probe_detail = (f"QEMU exited: {why[0]}" if proc.returncode and why
                                 else f"no kernel output in {seconds:.0f}s (guest stuck in firmware)")
            log(f"KVM probe: {last_probe_detail}")
        return seen


def resolve(cli_value: Optional[str], kernel: Optional[Path]) -> str:
    """Return "kvm" or "tcg". ``kernel`` is the node kernel used by the probe."""
    want = requested(cli_value)
    if want in ("kvm", "tcg"):
        return want
    boot_id = host_boot_id()
    hit = cached_probe(boot_id)
    if hit:
        return hit
    if not kvm_usable():
        result, why = "tcg", "/dev/kvm is not usable"
    elif kernel is None or not kernel.exists():
        # No kernel to probe with yet: be safe and do not cache.
        return "tcg"
    else:
        log(f"probing KVM: booting {kernel.name} under -accel kvm for up to {PROBE_SECONDS:.0f}s")
        ok = probe_kvm(kernel)
        result = "kvm" if ok else "tcg"
        why = "the probe kernel booted" if ok else \
            f"the probe kernel did not boot under KVM: {last_probe_detail}"
    log(f"accelerator: {result} ({why}); cached for this host boot")
    write_json(probe_cache_file(), {"boot_id": boot_id, "accel": result, "reason": why,
                                    "probed_at": int(time.time())})
    return result
