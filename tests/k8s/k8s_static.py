"""Helpers shared by the static checks of k8s/ and monitoring/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "production")


def tool(name: str) -> str:
    """Path of a pinned tool from tools/k8s-tools.sh; fail (never skip) without it."""
    proc = subprocess.run(
        [str(REPO / "tools" / "k8s-tools.sh"), name],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"tools/k8s-tools.sh {name} failed:\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def shared_dir() -> Path:
    """shared/ beside the checkout (CI), or BOT4_SHARED_DIR."""
    return Path(os.environ.get("BOT4_SHARED_DIR", REPO.parent / "shared"))


def require_shared(relpath: str) -> Path:
    """Return shared/<relpath>, or say loudly why the test cannot run.

    Missing data fails when BOT4_REQUIRE_SHARED=1 or CI=true (CI has shared/
    beside the clone); elsewhere the test is skipped with the reason.
    """
    path = shared_dir() / relpath
    if path.exists():
        return path
    msg = (
        f"NEEDS {path}: upstream CRDs are read from shared/ beside the checkout "
        f"(or BOT4_SHARED_DIR); this check did NOT run"
    )
    if os.environ.get("BOT4_REQUIRE_SHARED") == "1" or os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def find(docs: list[dict], kind: str, name: str | None = None) -> dict:
    hits = [
        d
        for d in docs
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]
