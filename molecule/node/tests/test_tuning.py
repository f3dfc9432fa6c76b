"""The node is tuned as planned, read from inside the VM after its reboot.

Run after converge + idempotence (the group's profile: static isolation) and
again after side_effect (another isolated set, balanced isolation). The plan
comes from the collection (verify.yml); every live value is read here from
/proc and /sys. The expected sets of the lab profile are also spelled out, so
a planner that planned nothing could not pass.
"""
import re

import pytest

from conftest import expand, lab_status

# inventories/lab/group_vars/hft_nodes.yml on the lab VM, and the scenario's change.
EXPECTED = {
    "converged": {"reserved": "0-1,4-5", "isolated": "2-3,6-7", "isolation": "static"},
    "changed": {"reserved": "0-1", "isolated": "2-6", "isolation": "balanced", "offline": "7",
                "realtime_scheduling": True},
}


def read(host, path):
    return host.file(path).content_string.strip()


def test_plan_is_the_expected_lab_plan(plan, phase):
    expected = EXPECTED[phase]
    assert plan["cpu"]["reserved"] == expected["reserved"]
    assert plan["cpu"]["isolated"] == expected["isolated"]
    assert plan["cpu"]["isolation"] == expected["isolation"]
    assert plan["cpu"]["offline_planned"] == expected.get("offline", "")
    assert plan["realtime_scheduling"]["enabled"] is expected.get("realtime_scheduling", False)


def test_rt_throttling_as_planned(host, plan):
    """kernel.realtime_scheduling: no RT throttling; without it the kernel's 950000 of every 1000000 us.
    stalld: Debian 12 does not package it, so it is not installed."""
    want = "-1" if plan["realtime_scheduling"]["enabled"] else "950000"
    assert read(host, "/proc/sys/kernel/sched_rt_runtime_us") == want
    assert not host.package("stalld").is_installed


def test_cpu_offline_cpus_are_offline_after_the_boot(host, plan):
    """The boot unit took cpu.offline offline (the kernel brings every CPU up
    at boot); every other present CPU is online."""
    planned = expand(plan["cpu"]["offline_planned"])
    for cpu in sorted(planned):
        assert read(host, f"/sys/devices/system/cpu/cpu{cpu}/online") == "0", cpu
    assert expand(read(host, "/sys/devices/system/cpu/offline")) == planned
    journal = host.check_output("journalctl -b -u bot4-hft-runtime.service --no-pager -o cat")
    assert not planned or re.search(r"bot4-hft-runtime: cpu_offline: \d+ changed", journal), journal


def test_cmdline_holds_every_planned_argument(host, plan):
    tokens = read(host, "/proc/cmdline").split()
    missing = [arg for arg in plan["kernel_args"] if arg not in tokens]
    assert not missing, f"planned kernel arguments missing from /proc/cmdline: {missing}"
    # Each owned key appears with the planned value only (no stale duplicate).
    for key in plan["kernel_arg_keys"]:
        if key in ("hugepagesz", "hugepages"):
            continue  # repeated by design: one per page size / reservation
        live = [t for t in tokens if t == key or t.startswith(key + "=")]
        planned = [a for a in plan["kernel_args"] if a == key or a.startswith(key + "=")]
        assert live == planned, f"{key}: /proc/cmdline has {live}, the plan {planned}"


def test_nohz_full_is_the_isolated_set(host, plan):
    assert expand(read(host, "/sys/devices/system/cpu/nohz_full")) == expand(plan["cpu"]["isolated"])


def test_scheduler_isolation_follows_the_mode(host, plan):
    isolated = expand(read(host, "/sys/devices/system/cpu/isolated"))
    if plan["cpu"]["isolation"] == "static":
        assert isolated == expand(plan["cpu"]["isolated"])
    else:
        assert isolated == set(), "balanced isolation keeps the CPUs in the scheduler's domains"


def test_hugepages_per_node_equal_the_plan(host, plan):
    planned = {(h["node"], h["size_kb"]): h["count"] for h in plan["hugepages"]}
    assert any(planned.values()), "the lab plan reserves hugepages"
    live = {}
    for line in host.check_output(
            "grep -H . /sys/devices/system/node/node*/hugepages/hugepages-*kB/nr_hugepages").splitlines():
        m = re.match(r"/sys/devices/system/node/node(\d+)/hugepages/hugepages-(\d+)kB/nr_hugepages:(\d+)$", line)
        assert m, line
        live[(int(m.group(1)), int(m.group(2)))] = int(m.group(3))
    for key, count in planned.items():
        assert live.get(key) == count, f"node {key[0]} {key[1]} kB pages: live {live.get(key)}, planned {count}"


def size_kb(text):
    """'2M' / '1G' / '1024M' (the plan's and the kernel's mount option spellings) -> kB."""
    number, unit = re.fullmatch(r"(\d+)([KMG])", text).groups()
    return int(number) * {"K": 1, "M": 1024, "G": 1024 * 1024}[unit]


def test_hugetlbfs_mounted_per_page_size(host, plan):
    mounts = host.check_output("findmnt -rn -t hugetlbfs -o TARGET,OPTIONS").splitlines()
    by_target = {line.split()[0]: line.split()[1] for line in mounts if line.strip()}
    assert plan["hugetlbfs_mounts"], "the lab plan mounts hugetlbfs"
    for mount in plan["hugetlbfs_mounts"]:
        assert mount["path"] in by_target, f"{mount['path']} is not a hugetlbfs mount: {by_target}"
        live = re.search(r"(?:^|,)pagesize=(\w+)", by_target[mount["path"]])
        assert live and size_kb(live.group(1)) == size_kb(mount["pagesize"]), (mount, by_target[mount["path"]])


def test_no_unmanaged_irq_on_an_isolated_cpu(host, plan, record_property):
    isolated = expand(plan["cpu"]["isolated"])
    offenders, managed = [], []
    # One round trip for every IRQ: its affinity, and whether the kernel lets
    # it be moved. The kernel refuses (EIO) to change a managed IRQ's affinity;
    # writing the current value back changes nothing for any other IRQ.
    listing = host.check_output(
        "for d in /proc/irq/[0-9]*; do a=$(cat $d/smp_affinity_list);"
        " if echo $a > $d/smp_affinity_list 2>/dev/null; then m=movable; else m=managed; fi;"
        " echo ${d##*/} $a $m; done")
    rows = [line.split() for line in listing.splitlines()]
    assert len(rows) > 10 and all(len(row) == 3 for row in rows), listing
    for irq, allowed, kind in rows:
        affinity = expand(allowed)
        if affinity & isolated:
            (offenders if kind == "movable" else managed).append(f"{irq}:{sorted(affinity)}")
    record_property("irqs_total", len(rows))
    record_property("irqs_movable_isolated", len(offenders))
    record_property("irqs_managed_isolated", len(managed))
    assert not offenders, f"IRQs with an isolated CPU in their affinity: {offenders} (managed, allowed: {managed})"


def test_default_irq_affinity_is_the_reserved_set(host, plan):
    assert int(read(host, "/proc/irq/default_smp_affinity").replace(",", ""), 16) == int(plan["cpu"]["reserved_mask"], 16)


def test_pid1_runs_on_the_reserved_cpus(host, plan):
    status = host.file("/proc/1/status").content_string
    allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1)
    assert expand(allowed) == expand(plan["cpu"]["reserved"])


def test_system_services_run_on_the_reserved_cpus(host, plan):
    # A service started by systemd after tuning inherits its CPUAffinity.
    pid = host.check_output("systemctl show -p MainPID --value ssh.service")
    allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", read(host, f"/proc/{pid}/status"), re.M).group(1)
    assert expand(allowed) == expand(plan["cpu"]["reserved"])


@pytest.mark.parametrize("slice_name", ["system.slice", "user.slice"])
def test_services_and_sessions_are_confined_to_the_reserved_cpus(host, plan, slice_name):
    # A cgroup cpuset: it holds when something resets the processes' affinity
    # (enabling the cpuset controller does on kernels before 6.2).
    effective = read(host, f"/sys/fs/cgroup/{slice_name}/cpuset.cpus.effective")
    assert expand(effective) == expand(plan["cpu"]["reserved"]), (slice_name, effective)


def test_unbound_workqueues_on_the_reserved_cpus(host, plan):
    mask = int(read(host, "/sys/devices/virtual/workqueue/cpumask").replace(",", ""), 16)
    assert mask == int(plan["cpu"]["reserved_mask"], 16)


def test_every_workqueue_with_its_own_cpumask_on_the_reserved_cpus(host, plan):
    listing = host.check_output("grep -H . /sys/devices/virtual/workqueue/*/cpumask")
    masks = dict(line.split(":", 1) for line in listing.splitlines())
    assert "/sys/devices/virtual/workqueue/writeback/cpumask" in masks, listing
    for path, mask in masks.items():
        assert int(mask.replace(",", ""), 16) == int(plan["cpu"]["reserved_mask"], 16), path


def test_an_interface_created_later_gets_the_reserved_rps_mask(host, plan):
    """The udev rule runs the applier's rps section for an interface that
    appears after boot (as a pod's veth does), once udev has named it."""
    reserved = int(plan["cpu"]["reserved_mask"].replace(",", ""), 16)
    host.run("ip link del bot4rps0")
    try:
        host.check_output("ip link add bot4rps0 type veth peer name bot4rps1 && udevadm settle --timeout=60")
        for name in ("bot4rps0", "bot4rps1"):
            mask = read(host, f"/sys/class/net/{name}/queues/rx-0/rps_cpus")
            assert int(mask.replace(",", ""), 16) == reserved, (name, mask)
    finally:
        host.run("ip link del bot4rps0")


def test_a_workqueue_created_later_gets_the_reserved_cpus(host, plan):
    """A SCSI host probed after boot (scsi_debug's) brings its scsi_tmf_<n>
    workqueue: the udev rule gives it the reserved CPUs."""
    before = set(host.check_output("ls /sys/devices/virtual/workqueue").split())
    if host.run("modprobe scsi_debug").rc != 0:
        pytest.skip("this kernel has no scsi_debug module")
    try:
        host.check_output("udevadm settle --timeout=60")
        new = sorted(n for n in set(host.check_output("ls /sys/devices/virtual/workqueue").split()) - before
                     if n.startswith("scsi_tmf_"))
        assert new, "scsi_debug added no scsi_tmf workqueue"
        for name in new:
            mask = read(host, f"/sys/devices/virtual/workqueue/{name}/cpumask")
            assert int(mask.replace(",", ""), 16) == int(plan["cpu"]["reserved_mask"].replace(",", ""), 16), name
    finally:
        host.run("udevadm settle --timeout=60; modprobe -r scsi_debug")


# Every kernel thread in one round trip: PID, name, whether it is a kernel
# thread and accepts a new affinity (/proc/PID/stat flags), its CPUs.
KTHREADS = r"""python3 -c '
import os
for pid in os.listdir("/proc"):
    try:
        stat = open("/proc/%s/stat" % pid).read()
        cpus = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("Cpus_allowed_list:")]
    except (OSError, ValueError):
        continue
    flags = int(stat.rsplit(")", 1)[1].split()[6])
    if flags & 0x00200000 and cpus:
        print(pid, "fixed" if flags & 0x04000000 else "movable", cpus[0], stat.split("(", 1)[1].rsplit(")", 1)[0])
'"""


def test_no_movable_kernel_thread_on_an_isolated_cpu(host, plan, record_property):
    isolated = expand(plan["cpu"]["isolated"])
    figures = {"per_cpu": 0, "housekeeping": 0, "movable_isolated": [], "kernel_bound_isolated": []}
    rows = [line.split(None, 3) for line in host.check_output(KTHREADS).splitlines()]
    assert len(rows) > 50, rows
    for pid, kind, allowed, name in rows:
        cpus = expand(allowed)
        if len(cpus) == 1:
            figures["per_cpu"] += 1
        elif not cpus & isolated:
            figures["housekeeping"] += 1
        else:
            figures["%s_isolated" % ("movable" if kind == "movable" else "kernel_bound")].append(f"{name}:{pid}")
    # the isolation figures, in the verify report (junit properties)
    for key, value in figures.items():
        record_property("kthreads_" + key, value if isinstance(value, int) else len(value))
    assert figures["housekeeping"] > 0
    assert not figures["movable_isolated"], f"movable kernel threads allowed on isolated CPUs: {figures}"


def test_sysctls_as_planned(host, plan):
    assert plan["sysctl"].get("kernel.numa_balancing") == "0"
    for key, value in plan["sysctl"].items():
        assert host.check_output(f"sysctl -n {key}").split() == str(value).split(), key


# A TCP connection made by a process pinned to one isolated CPU, with a
# keep-alive of 1 s: the timer is armed there (setsockopt SO_KEEPALIVE) and,
# with kernel.timer_migration=1, queued on a housekeeping CPU's timer base
# (get_nohz_timer_target), where it fires.  Seen through the timer
# tracepoints of a trace instance of its own: the CPU each tcp_keepalive_timer
# was started on, and the CPU each one expired on.  The probe runs in a
# transient unit outside the slices confined to the reserved CPUs.
KEEPALIVE_PROBE = r"""systemd-run --quiet --wait --pipe --collect --slice=bot4hft-probe.slice -- python3 - %d <<'EOF'
import os, re, socket, sys, time
cpu = int(sys.argv[1])
tracing = "/sys/kernel/tracing"
if not os.path.isdir(tracing + "/instances"):
    tracing = "/sys/kernel/debug/tracing"
inst = tracing + "/instances/bot4-hft-keepalive"
os.mkdir(inst)
events = [inst + "/events/timer/%%s/enable" %% e for e in ("timer_start", "timer_expire_entry")]
try:
    for path in events:
        open(path, "w").write("1")
    os.sched_setaffinity(0, {cpu})
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    time.sleep(3.5)
    print("pinned", sorted(os.sched_getaffinity(0)))
    for path in events:
        open(path, "w").write("0")
    trace = open(inst + "/trace").read()
    client.close(); peer.close(); server.close()
finally:
    for path in events:
        open(path, "w").write("0")
    os.rmdir(inst)
for line in trace.splitlines():
    m = re.search(r"\[(\d+)\].*?\b(timer_start|timer_expire_entry):.*function=tcp_keepalive_timer", line)
    if m:
        print(int(m.group(1)), m.group(2))
EOF"""


def test_timer_migration_on(host):
    assert read(host, "/proc/sys/kernel/timer_migration") == "1"


def test_keepalive_timer_armed_on_an_isolated_cpu_fires_on_a_reserved_one(host, plan, record_property):
    isolated = expand(plan["cpu"]["isolated"])
    reserved = expand(plan["cpu"]["reserved"])
    cpu = min(isolated)
    out = host.check_output(KEEPALIVE_PROBE % cpu).splitlines()
    assert out[0] == "pinned [%d]" % cpu, out
    rows = [line.split() for line in out[1:]]
    started = [int(c) for c, event in rows if event == "timer_start"]
    fired = [int(c) for c, event in rows if event == "timer_expire_entry"]
    record_property("keepalive_fired_cpus", ",".join(str(c) for c in sorted(set(fired))))
    # armed on the isolated CPU (by setsockopt), fired at least twice (1 s idle, 1 s interval)
    assert cpu in started, out
    assert len(fired) >= 2, out
    assert set(fired) <= reserved, "keep-alive timers fired on %s (reserved %s)" % (sorted(set(fired)), sorted(reserved))


def test_corrected_machine_checks_are_not_polled(host, plan):
    assert "mce=ignore_ce" in plan["kernel_args"]
    assert "mce=ignore_ce" in read(host, "/proc/cmdline").split()
    files = host.run("ls -d /sys/devices/system/machinecheck/machinecheck*/ignore_ce").stdout.split()
    if not files:
        pytest.skip("no /sys/devices/system/machinecheck on this machine (a virtual CPU without MCE): "
                    "only the kernel argument is shown")
    for path in files:
        assert read(host, path) == "1", path


def _unit_pid(host, unit):
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def _allowed(host, pid):
    status = host.check_output(f"cat /proc/{pid}/status")
    return expand(re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1))


def test_sweep_moves_a_stray_process_and_leaves_a_denied_one(host, plan):
    """Two processes pinned to an isolated CPU in a slice of their own (outside
    the confined ones): the applier's sweep section (the plan's
    runtime.sweep, as the housekeeping role runs it) moves `sleep` to the
    reserved CPUs and leaves `dpdk-probe` (housekeeping.sweep_deny: dpdk*)."""
    import json
    cpu = min(expand(plan["cpu"]["isolated"]))
    reserved = expand(plan["cpu"]["reserved"])
    host.check_output("cp /bin/sleep /tmp/dpdk-probe")
    units = {"bot4-sweep-stray": "/bin/sleep", "bot4-sweep-denied": "/tmp/dpdk-probe"}
    try:
        for unit, program in units.items():
            host.check_output(f"systemd-run --quiet --collect --unit={unit} --slice=bot4hft-probe.slice "
                              f"taskset -c {cpu} {program} 600")
        pids = {unit: _unit_pid(host, unit) for unit in units}
        assert all(_allowed(host, pid) == {cpu} for pid in pids.values())
        config = json.dumps({"sweep": plan["runtime"]["sweep"]})
        result = host.run(f"/usr/local/sbin/bot4-hft-runtime --apply --config-json '{config}'")
        assert result.rc == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)["sections"]["sweep"]
        assert _allowed(host, pids["bot4-sweep-stray"]) == reserved
        assert _allowed(host, pids["bot4-sweep-denied"]) == {cpu}
        assert "dpdk-probe" in [t["comm"] for t in report["threads_denied"]], report
        assert report["threads_moved"] >= 1, report
    finally:
        for unit in units:
            host.run(f"systemctl stop {unit}")
        host.run("rm -f /tmp/dpdk-probe")


def test_ksm_stopped(host, plan):
    assert plan["runtime"]["ksm"] == {"run": "0"}
    if not host.file("/sys/kernel/mm/ksm/run").exists:
        pytest.skip("this kernel has no KSM")
    assert read(host, "/sys/kernel/mm/ksm/run") == "0"


def test_planned_units_are_stopped_and_disabled(host, plan):
    assert "fwupd-refresh.timer" in plan["disabled_units"]
    for unit in plan["disabled_units"]:
        state = host.run(f"systemctl is-enabled {unit}").stdout.strip()
        assert state in ("disabled", "masked", ""), (unit, state)  # "": not installed
        assert host.run(f"systemctl is-active {unit}").stdout.strip() != "active", unit


def test_transparent_hugepages_off(host):
    assert read(host, "/sys/kernel/mm/transparent_hugepage/enabled") == "always madvise [never]"
    assert "[never]" in read(host, "/sys/kernel/mm/transparent_hugepage/defrag")


def test_irqbalance_keeps_off_the_isolated_cpus(host, plan):
    banned = host.run("sed -n 's/^IRQBALANCE_BANNED_CPULIST=//p' /etc/default/irqbalance").stdout.strip().strip('"')
    active = host.run("systemctl is-active irqbalance.service").stdout.strip()
    assert active != "active" or expand(banned) == expand(plan["cpu"]["isolated"]), (active, banned)


def test_runtime_unit_ran_at_boot_before_kubelet(host):
    assert host.check_output("systemctl is-active bot4-hft-runtime.service") == "active"
    assert host.check_output("systemctl show -p Result --value bot4-hft-runtime.service") == "success"
    before = host.check_output("systemctl show -p Before --value bot4-hft-runtime.service").split()
    assert "kubelet.service" in before, before


def test_runtime_applier_finds_nothing_to_change(host):
    # --check exits 2 when the live state differs from its configuration.
    result = host.run("/usr/local/sbin/bot4-hft-runtime --check")
    assert result.rc == 0, result.stdout + result.stderr


@pytest.mark.before_change
def test_one_reboot_so_far(host):
    """The lab's first boot plus converge's single reboot; idempotence rebooted nothing."""
    port = int(host.backend.get_variables()["ansible_port"])
    node = [n for n in lab_status()["nodes"] if int(n["ssh_port"]) == port][0]
    assert node["boots"] == 2, f"{node['boots']} kernel boots on the console, expected 2"
