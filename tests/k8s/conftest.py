"""Static checks of the k8s/ tree and monitoring/: fixtures.

The pinned tools come from tools/k8s-tools.sh (Debian .debs unpacked into the
tool cache, and a separate virtualenv for the scanners). A tool that cannot be
installed fails the test that needs it: these checks are never skipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from k8s_static import ENVIRONMENTS, REPO, tool


@pytest.fixture(scope="session")
def kustomize() -> str:
    return tool("kustomize")


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


@pytest.fixture(scope="session")
def scan_venv() -> Path:
    return Path(tool("scan-venv"))


@pytest.fixture(scope="session")
def rendered_text(kustomize, tmp_path_factory) -> dict[str, Path]:
    """kustomize build of every overlay, written to <tmp>/<env>.yaml."""
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for env in ENVIRONMENTS:
        proc = subprocess.run(
            [kustomize, "build", str(REPO / "k8s" / "overlays" / env)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"kustomize build {env}: {proc.stderr}"
        files[env] = out / f"{env}.yaml"
        files[env].write_text(proc.stdout)
    return files


@pytest.fixture(scope="session")
def rendered(rendered_text) -> dict[str, list[dict]]:
    return {
        env: [d for d in yaml.safe_load_all(path.read_text()) if d]
        for env, path in rendered_text.items()
    }
