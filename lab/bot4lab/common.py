"""Paths, environment, logging and small process helpers shared by the lab tool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

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


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a (console) log, without terminal control sequences."""
    try:
        data = path.read_bytes()[-64 * 1024:]
    except OSError:
        return f"(no {path})"
    text = data.decode(errors="replace")
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r", "", text)
    return "\n".join(text.splitlines()[-lines:])
