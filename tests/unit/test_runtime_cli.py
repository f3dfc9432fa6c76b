# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime: command line, configuration files, exit codes, whole-plan runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

RESERVED = "0-1,4-5"
ISOLATED = "2-3,6-7"

# What the roles render for the lab plan, one file per role.
HUGEPAGES = {"format": 1, "hugepages": {"pools": [
    {"node": 1, "size_kb": 1048576, "count": 1}, {"node": 0, "size_kb": 2048, "count": 128}]}}
HOUSEKEEPING = {
    "format": 1,
    "sysctl": {"kernel.numa_balancing": "0", "kernel.timer_migration": "1", "vm.stat_interval": "10"},
    "thp": {"enabled": "never", "defrag": "never"},
    "irq": {"default_cpus": RESERVED, "cpus": RESERVED},
    "workqueue": {"cpus": RESERVED},
    "kthread": {"cpus": RESERVED},
    "rps": {"cpus": RESERVED},
}
DPDK = {"format": 1, "dpdk": {"devices": [{"pci": "0000:81:00.0", "driver": "vfio-pci", "id": "8086:10d3"}],
                              "noiommu": False}}
CPU_POWER = {
    "format": 1,
    "cpufreq": {"governor": "performance", "cpus": "0-7"},
    "cpuidle": {"cpus": ISOLATED, "max_cstate": 1},
    "energy_perf_bias": {"value": "performance", "cpus": "0-7"},
}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


@pytest.fixture
def config_dir(tmp_path):
    path = tmp_path / "runtime.d"
    path.mkdir()
    for name, doc in (("10-hugepages.json", HUGEPAGES), ("40-dpdk.json", DPDK),
                      ("50-housekeeping.json", HOUSEKEEPING), ("60-cpu-power.json", CPU_POWER)):
        (path / name).write_text(json.dumps(doc))
    return path


def run_main(lab, capsys, *args):
    code = lab.applier.main(list(args) + ["--root", str(lab.root)])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_whole_lab_plan_check_apply_check(lab, capsys, config_dir):
    code, result, err = run_main(lab, capsys, "--check", "--config", str(config_dir))
    assert code == 2
    assert result["mode"] == "check"
    assert sorted(result["sections"]) == sorted(
        ["hugepages", "dpdk", "sysctl", "thp", "irq", "workqueue", "kthread", "rps", "cpufreq", "cpuidle",
         "energy_perf_bias"])
    # applied in this order: the NIC leaves its kernel driver before IRQs and RPS masks are set
    assert lab.applier.SECTIONS == (
        "cpu_offline", "hugepages", "dpdk", "sysctl", "thp", "ksm", "irq", "workqueue", "kthread", "sweep",
        "rps",
        "cpufreq", "cpuidle", "energy_perf_bias", "epp", "min_perf_pct")
    assert lab.kernel.writes == []
    assert "bot4-hft-runtime: cpufreq: no cpufreq driver on this node" in err
    assert "bot4-hft-runtime: irq: " in err and "would change" in err

    code, result, err = run_main(lab, capsys, "--apply", "--config", str(config_dir))
    assert code == 0, result["msg"]
    assert result["changed"] is True
    assert "managed IRQ(s)" in err
    assert lab.kernel.driver_of("0000:81:00.0") == "vfio-pci"
    # the e1000e's receive queue went away with its driver, before the rps section ran
    assert [c["path"] for c in result["sections"]["rps"]["changes"]] == [
        "/sys/class/net/enp0s3/queues/rx-0/rps_cpus"]

    lab.kernel.writes[:] = []
    code, result, err = run_main(lab, capsys, "--check", "--config", str(config_dir))
    assert code == 0, result["msg"]
    assert result["changed"] is False
    assert result["msg"] == "in sync with the plan"
    code, result, err = run_main(lab, capsys, "--apply", "--config", str(config_dir))
    assert code == 0
    assert result["changed"] is False
    # only the managed IRQs are tried again (and refuse again)
    assert all(p.startswith("/proc/irq/") for p in lab.kernel.paths_written())


def test_section_filter_runs_only_that_section(lab, capsys, config_dir):
    code, result, _unused = run_main(lab, capsys, "--apply", "--config", str(config_dir), "--section", "workqueue")
    assert code == 0
    assert list(result["sections"]) == ["workqueue"]
    assert lab.kernel.paths_written() == ["/sys/devices/virtual/workqueue/cpumask",
                                          "/sys/devices/virtual/workqueue/writeback/cpumask"]


def test_section_not_configured_is_reported_not_failed(lab, capsys, tmp_path):
    path = tmp_path / "only.json"
    path.write_text(json.dumps({"workqueue": {"cpus": RESERVED}}))
    code, result, _unused = run_main(lab, capsys, "--check", "--config", str(path), "--section", "hugepages")
    assert code == 0
    assert result["not_configured"] == ["hugepages"]


def test_config_json_inline(lab, capsys):
    code, result, _unused = run_main(lab, capsys, "--check", "--config-json", json.dumps({"workqueue": {"cpus": RESERVED}}))
    assert code == 2
    assert result["sections"]["workqueue"]["changes"][0]["after"] == "33"


def test_missing_default_config_dir_fails_clearly(lab, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(lab.applier, "DEFAULT_CONFIG", str(tmp_path / "absent"))
    code, result, err = run_main(lab, capsys, "--check")
    assert code == 1
    assert "does not exist" in result["msg"]


@pytest.mark.parametrize(
    "docs, message",
    [
        ([{"workqueue": {"cpus": "0"}}, {"workqueue": {"cpus": "1"}}], "section workqueue is already set by"),
        ([{"irqs": {}}], "unknown section 'irqs'"),
        ([{"format": 2, "irq": {}}], "format 2 is not supported"),
        ([[1, 2]], "the configuration must be a JSON object"),
    ],
)
def test_bad_configuration_files(lab, capsys, tmp_path, docs, message):
    folder = tmp_path / "conf"
    folder.mkdir()
    for index, doc in enumerate(docs):
        (folder / ("%02d.json" % index)).write_text(json.dumps(doc))
    code, result, err = run_main(lab, capsys, "--apply", "--config", str(folder))
    assert code == 1
    assert message in result["msg"]
    assert message in err
    assert lab.kernel.writes == []


def test_invalid_json_names_the_file(lab, capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    code, result, _unused = run_main(lab, capsys, "--check", "--config", str(path))
    assert code == 1
    assert "broken.json is not valid JSON" in result["msg"]


def test_runs_as_a_program_with_only_the_standard_library(tmp_path):
    # -IS: isolated mode without the site module: no site-packages, no PYTHON* variables.
    spec = fakesys.load_spec("lab-vm")
    root = fakesys.build_tree(tmp_path / "root", spec)
    # Laid out as the housekeeping role installs it on a node, outside the checkout.
    launcher = fakesys.install_applier(tmp_path / "usr-local")
    argv = [sys.executable, "-IS", str(launcher), "--config-json",
            json.dumps({"workqueue": {"cpus": RESERVED}}), "--root", str(root)]
    check = subprocess.run(argv + ["--check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert check.returncode == 2, check.stderr
    assert json.loads(check.stdout)["changed"] is True
    apply = subprocess.run(argv + ["--apply"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert apply.returncode == 0, apply.stderr
    assert (root / "sys/devices/virtual/workqueue/cpumask").read_text().strip() == "33"
    again = subprocess.run(argv + ["--check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    assert again.returncode == 0


def test_the_installed_command_runs_through_its_own_interpreter_line(tmp_path):
    # As the verify role and an operator run it: the program itself, whose
    # "#!/usr/bin/python3 -IS" line keeps site-packages (and any other
    # ansible_collections) out of its imports.
    spec = fakesys.load_spec("lab-vm")
    root = fakesys.build_tree(tmp_path / "root", spec)
    launcher = fakesys.install_applier(tmp_path / "usr-local")
    assert fakesys.LAUNCHER.read_text().splitlines()[0] == "#!/usr/bin/python3 -IS"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(fakesys.REPO / "does-not-exist")}
    run = subprocess.run([str(launcher), "--check", "--root", str(root), "--config-json",
                          json.dumps({"workqueue": {"cpus": RESERVED}})],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, check=False)
    assert run.returncode == 2, run.stderr
    assert json.loads(run.stdout)["sections"]["workqueue"]["status"] == "would_change"


def test_mode_is_required(lab, capsys):
    with pytest.raises(SystemExit) as exc:
        lab.applier.main(["--config-json", "{}"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "cpus, mask",
    [([0, 1, 4, 5], "33"), ([], "0"), ([32], "1,00000000"), ([0, 39], "80,00000001")],
)
def test_mask_helpers_round_trip(lab, cpus, mask):
    assert lab.applier.format_mask(cpus) == mask
    assert lab.applier.parse_mask(mask) == cpus
    assert lab.applier.parse_mask("0x" + mask) == cpus


def test_cpulist_helpers(lab):
    assert lab.applier.format_cpulist([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert lab.applier.parse_cpulist(" 0-2,5\n") == [0, 1, 2, 5]
    with pytest.raises(ValueError):
        lab.applier.parse_cpulist("3-1")
