"""Paths, environment, logging and small process helpers shared by the lab tools
(labctl.py and clusterctl.py)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence

LAB_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = LAB_DIR.parent
IMAGE_SRC_DIR = LAB_DIR / "image"
HOST_PACKAGES_FILE = LAB_DIR / "host-packages.txt"


class LabError(Exception):
    """An error the user can act on; printed without a traceback."""


def cache_dir() -> Path:
    """``${BOT4_CACHE_DIR:-~/.cache/bot4-hft}``."""
    value = os.environ.get("BOT4_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "bot4-hft"


def labs_dir() -> Path:
    """``${BOT4_LAB_DIR:-<repo>/.lab}``: one state directory per lab."""
    value = os.environ.get("BOT4_LAB_DIR")
    return Path(value).expanduser().resolve() if value else REPO_ROOT / ".lab"


_T0 = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for results: paths, JSON)."""
    print(f"[lab +{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command, raising LabError with its output tail when it fails."""
    kwargs.setdefault("check", False)
    proc = subprocess.run(list(argv), **kwargs)
    if proc.returncode != 0:
        detail = ""
        for stream in (proc.stdout, proc.stderr):
            if isinstance(stream, bytes):
                stream = stream.decode(errors="replace")
            if stream:
                detail += "\n" + "\n".join(stream.rstrip().splitlines()[-20:])
        raise LabError(f"command failed (exit {proc.returncode}): {' '.join(argv)}{detail}")
    return proc


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL if labctl dies (Linux PR_SET_PDEATHSIG), so
    a killed build never leaves its install or probe VM running."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).is_file()]
    if missing:
        raise LabError(
            f"missing host tools: {', '.join(missing)}; install the Debian packages "
            f"listed in {HOST_PACKAGES_FILE.relative_to(REPO_ROOT)}"
        )


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write a file through a temp file + rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def host_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def tail(path: Path, lines: int = 40, indent: str = "") -> str:
    """Last lines of a (console) log, without terminal control sequences, each
    line after ``indent``."""
    try:
        data = path.read_bytes()[-64 * 1024:]
    except OSError:
        return f"{indent}(no {path})"
    text = data.decode(errors="replace")
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r", "", text)
    return "\n".join(indent + line for line in text.splitlines()[-lines:])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on path (created if missing), waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def wait_until(check: Callable[[], Any], timeout: float, interval: float) -> Any:
    """Call check every interval seconds until it returns a true value or
    timeout seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return result


# --------------------------------------------------------------------------- processes


def pid_cmdline(pid: int) -> List[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def proc_start_time(pid: int) -> Optional[str]:
    """Start time (clock ticks since boot) of a live, non-zombie process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def pid_alive(pid: int, start_time: Optional[str] = None) -> bool:
    """True if pid is a live process (the one that started at start_time, if given)."""
    current = proc_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def processes_referencing(path: Path) -> List[int]:
    """PIDs of live processes whose command line mentions path/ (other than this one)."""
    needle = (str(path).rstrip("/") + "/").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and proc_start_time(int(entry.name)):
            found.append(int(entry.name))
    return found


def terminate(pids: Sequence[int], grace: float, group: bool = False,
              alive: Optional[Callable[[int], bool]] = None, interval: float = 0.1) -> bool:
    """SIGTERM, wait up to grace seconds, then SIGKILL whatever is left; True
    when every process is gone.

    alive(pid) tells whether pid is still the process meant; by default, the
    process that had that pid when terminate was called (by its start time), so
    a reused pid is never signalled. With group, a process that leads its own
    process group is signalled with its whole group.
    """
    pids = list(dict.fromkeys(pids))
    if alive is None:
        starts = {pid: proc_start_time(pid) for pid in pids}

        def alive(pid: int) -> bool:
            return pid_alive(pid, starts[pid])

    def send(sig: int) -> None:
        for pid in pids:
            if not alive(pid):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if group and os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)

    def gone() -> bool:
        return not any(alive(pid) for pid in pids)

    def wait(seconds: float) -> bool:
        return bool(wait_until(gone, seconds, interval)) or gone()

    send(signal.SIGTERM)
    if wait(grace):
        return True
    send(signal.SIGKILL)
    return wait(10)
