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


def ansible_env() -> dict[str, str]:
    """Environment for ansible-playbook runs from this checkout."""
    venv_site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"), None)
    paths = [str(REPO / ".cache" / "collections")]
    if venv_site:
        paths.append(str(venv_site))
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=":".join(paths),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    return env


def ensure_collection_link() -> None:
    """ansible_collections/bot4/hft -> this checkout (what `make venv` makes)."""
    link = REPO / ".cache" / "collections" / "ansible_collections" / "bot4" / "hft"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)


def ansible_playbook(*args: str, env: dict[str, str] | None = None, timeout: float = 900):
    """Run ansible-playbook from the checkout's virtualenv."""
    import sys

    ensure_collection_link()
    exe = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(exe), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**ansible_env(), **(env or {})},
        timeout=timeout,
        check=False,
    )


def lab_render(kustomize: str, workdir: Path, env: str = "production") -> list[dict]:
    """kustomize build of an overlay with the lab inventory's extra patches
    (inventories/lab: the DPDK device plugin's lab-only stand-in image), as
    the cluster_deploy role renders it for the lab."""
    import yaml

    group_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "bot4_cluster" / "main.yml").read_text())
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "k8s" / "overlays" / env, workdir)],
        "patches": group_vars.get("cluster_deploy_extra_patches", []),
    }))
    proc = subprocess.run([kustomize, "build", str(workdir)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]
