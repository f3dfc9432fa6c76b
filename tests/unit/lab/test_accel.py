"""Accelerator choice: override, per-boot probe cache."""

import json

import pytest

from bot4lab import accel
from bot4lab.common import LabError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT4_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BOT4_LAB_ACCEL", raising=False)
    return tmp_path


def test_env_overrides_cli(monkeypatch):
    monkeypatch.setenv("BOT4_LAB_ACCEL", "tcg")
    assert accel.resolve("kvm", None) == "tcg"
    monkeypatch.setenv("BOT4_LAB_ACCEL", "bogus")
    with pytest.raises(LabError):
        accel.resolve("auto", None)


def test_explicit_choice_skips_probe(monkeypatch):
    monkeypatch.setattr(accel, "probe_kvm", lambda *a, **k: pytest.fail("probed"))
    assert accel.resolve("kvm", None) == "kvm"
    assert accel.resolve("tcg", None) == "tcg"


def test_probe_result_cached_per_host_boot(monkeypatch, cache, tmp_path):
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"k")
    calls = []
    monkeypatch.setattr(accel, "kvm_usable", lambda: True)
    monkeypatch.setattr(accel, "probe_kvm", lambda k: calls.append(k) or False)
    monkeypatch.setattr(accel, "host_boot_id", lambda: "boot-1")
    assert accel.resolve("auto", kernel) == "tcg"
    assert accel.resolve("auto", kernel) == "tcg"
    assert len(calls) == 1
    data = json.loads((cache / "accel-probe.json").read_text())
    assert data["boot_id"] == "boot-1" and data["accel"] == "tcg"
    # a new host boot probes again
    monkeypatch.setattr(accel, "host_boot_id", lambda: "boot-2")
    monkeypatch.setattr(accel, "probe_kvm", lambda k: calls.append(k) or True)
    assert accel.resolve("auto", kernel) == "kvm"
    assert len(calls) == 2


def test_no_kvm_device_means_tcg(monkeypatch):
    monkeypatch.setattr(accel, "kvm_usable", lambda: False)
    monkeypatch.setattr(accel, "probe_kvm", lambda *a, **k: pytest.fail("probed"))
    assert accel.resolve("auto", None) == "tcg"
