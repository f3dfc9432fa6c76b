"""Pure kernel command line logic: tokens, owned-argument comparison, drop-in, grub.cfg, grubby."""

from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import (
    BOOTLOADERS,
    DROPIN_MARKER,
    CmdlineError,
    boot_matches,
    bootloader_settings,
    default_entry,
    diff_args,
    entry_args,
    find_conflicts,
    grubby_argv,
    kernel_args,
    missing_and_unexpected,
    normalize,
    os_family,
    owned_keys_for,
    owned_tokens,
    parse_dropin,
    parse_grub_cfg,
    parse_grubby_info,
    parse_grubenv,
    parse_token,
    plan_grubby,
    render_dropin,
    split_args,
    strip_base,
    token_key,
    validate_args,
)

FIXTURES = Path(__file__).parent / "fixtures" / "kernel_cmdline"

PLAN = [
    "isolcpus=managed_irq,domain,2-3,6-7",
    "nohz_full=2-3,6-7",
    "rcu_nocbs=2-3,6-7",
    "irqaffinity=0-1,4-5",
    "default_hugepagesz=1G",
    "hugepagesz=1G",
    "hugepages=0:0,1:1",
    "hugepagesz=2M",
    "hugepages=0:128,1:0",
    "transparent_hugepage=never",
    "nosoftlockup",
    "skew_tick=1",
    "tsc=reliable",
]
KEYS = sorted({token_key(a) for a in PLAN} | {"nosmt", "intel_iommu", "iommu"})


# ---------------------------------------------------------------------------
# tokens


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("", []),
        ("   \n", []),
        ("ro quiet", ["ro", "quiet"]),
        ("a\tb\nc  d", ["a", "b", "c", "d"]),
        ('foo="a b" bar', ['foo="a b"', "bar"]),
        ('"foo=a b" bar', ['"foo=a b"', "bar"]),
        ('dyndbg="file x.c +p" quiet', ['dyndbg="file x.c +p"', "quiet"]),
        ('unterminated="a b', ['unterminated="a b']),
        ("isolcpus=2-3 -- single init_arg", ["isolcpus=2-3", "--", "single", "init_arg"]),
    ],
)
def test_split_args_like_the_kernel(text, tokens):
    assert split_args(text) == tokens


@pytest.mark.parametrize(
    "token, key, value",
    [
        ("isolcpus=managed_irq,domain,2-3", "isolcpus", "managed_irq,domain,2-3"),
        ("nosmt", "nosmt", None),
        ("nosmt=force", "nosmt", "force"),
        ('foo="a b"', "foo", "a b"),
        ('"foo=a b"', "foo", "a b"),
        ('"quiet"', "quiet", None),
        ("empty=", "empty", ""),
        ('empty=""', "empty", ""),
        ("a=b=c", "a", "b=c"),
        ("root=UUID=0d7c", "root", "UUID=0d7c"),
    ],
)
def test_parse_token_strips_quotes_where_the_kernel_does(token, key, value):
    assert parse_token(token) == (key, value)
    assert token_key(token) == key


def test_normalize_makes_quoting_styles_equal():
    assert normalize('foo="a b"') == normalize('"foo=a b"') == "foo=a b"
    assert normalize("nosmt") == "nosmt"


def test_kernel_args_stop_at_double_dash():
    assert kernel_args("ro isolcpus=2 -- isolcpus=3") == ["ro", "isolcpus=2"]


# ---------------------------------------------------------------------------
# tokens, never substrings


def test_isolcpus_prefix_does_not_match_a_longer_list():
    running = split_args("ro isolcpus=2-31 quiet")
    assert not boot_matches(running, ["isolcpus=2-3"], ["isolcpus"])
    missing, unexpected = missing_and_unexpected(running, ["isolcpus=2-3"], ["isolcpus"])
    assert missing == ["isolcpus=2-3"]
    assert unexpected == ["isolcpus=2-31"]


def test_nosmt_flag_does_not_match_nosmt_force():
    running = split_args("ro nosmt=force")
    assert not boot_matches(running, ["nosmt"], ["nosmt"])
    assert missing_and_unexpected(running, ["nosmt"], ["nosmt"]) == (["nosmt"], ["nosmt=force"])


def test_a_key_that_is_a_prefix_of_another_key_is_a_different_key():
    running = split_args("nohz=on nohz_full=2-3")
    assert owned_tokens(running, ["nohz_full"]) == ["nohz_full=2-3"]
    assert owned_tokens(running, ["nohz"]) == ["nohz=on"]


def test_unowned_arguments_are_ignored():
    running = split_args("BOOT_IMAGE=/vmlinuz root=UUID=x ro console=ttyS0 isolcpus=2-3 quiet")
    assert boot_matches(running, ["isolcpus=2-3"], ["isolcpus", "nohz_full"])


def test_order_of_repeated_keys_matters():
    desired = ["hugepagesz=1G", "hugepages=1", "hugepagesz=2M", "hugepages=128"]
    swapped = split_args("hugepagesz=2M hugepages=1 hugepagesz=1G hugepages=128")
    keys = ["hugepagesz", "hugepages"]
    assert boot_matches(split_args(" ".join(desired)), desired, keys)
    assert not boot_matches(swapped, desired, keys)


def test_duplicate_owned_token_is_unexpected():
    running = split_args("nosoftlockup nosoftlockup")
    assert missing_and_unexpected(running, ["nosoftlockup"], ["nosoftlockup"]) == ([], ["nosoftlockup"])
    assert not boot_matches(running, ["nosoftlockup"], ["nosoftlockup"])


def test_quoted_forms_compare_equal():
    assert boot_matches(split_args('"foo=a b"'), ['foo="a b"'], ["foo"])


def test_owned_keys_include_the_keys_of_args():
    assert owned_keys_for(["isolcpus=1", "nosmt"], ["nohz_full", ""]) == ["isolcpus", "nohz_full", "nosmt"]


def test_strip_base_removes_head_from_front_and_tail_from_back():
    owned = ["x=1", "y", "x=1"]
    assert strip_base(owned, head=["x=1"]) == ["y", "x=1"]
    assert strip_base(owned, tail=["x=1"]) == ["x=1", "y"]
    assert strip_base(owned, head=["unrelated"], tail=["other"]) == owned


def test_diff_args_with_multiplicity():
    before = ["isolcpus=2-3", "nohz_full=2-3", "hugepages=1", "hugepages=1"]
    after = ["isolcpus=2-3,6-7", "nohz_full=2-3", "hugepages=1", "nosmt"]
    assert diff_args(before, after) == {
        "added": ["isolcpus=2-3,6-7", "nosmt"],
        "removed": ["isolcpus=2-3", "hugepages=1"],
    }
    assert diff_args(PLAN, PLAN) == {"added": [], "removed": []}


# ---------------------------------------------------------------------------
# validation


def test_validate_accepts_the_plan_and_quoted_values():
    assert validate_args(PLAN + ['foo="a b"']) == PLAN + ['foo="a b"']


@pytest.mark.parametrize(
    "arg, message",
    [
        ("", "empty"),
        (" nosmt", "whitespace"),
        ("a b", "not exactly one token"),
        ("a=$(reboot)", "'$'"),
        ("a=`x`", "'`'"),
        ("a;b", "';'"),
        ("a=1\nb=2", "control character"),
        ('a="b', "unbalanced"),
        ('a=b"c"d"', "unbalanced"),
        ("=x", "no parameter name"),
        ("--", "no parameter name"),
    ],
)
def test_validate_rejects_bad_arguments_naming_them(arg, message):
    with pytest.raises(CmdlineError) as err:
        validate_args([arg])
    assert message in str(err.value)
    assert repr(arg) in str(err.value)


def test_validate_rejects_non_strings():
    with pytest.raises(CmdlineError, match="not a string"):
        validate_args([3])


# ---------------------------------------------------------------------------
# drop-in


def test_render_dropin_appends_to_grub_cmdline_linux():
    text = render_dropin(["isolcpus=managed_irq,2-3", "nosmt"])
    lines = text.splitlines()
    assert lines[0] == DROPIN_MARKER
    assert lines[-1] == 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX isolcpus=managed_irq,2-3 nosmt"'
    assert render_dropin([]).splitlines()[-1] == 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX"'


def test_render_dropin_escapes_quotes_and_parses_back():
    args = ['foo="a b"', "nosmt"]
    text = render_dropin(args)
    assert 'foo=\\"a b\\"' in text
    assert parse_dropin(text) == args
    assert parse_dropin(render_dropin(PLAN)) == PLAN
    assert parse_dropin(render_dropin([])) == []


def test_render_dropin_refuses_bad_arguments():
    with pytest.raises(CmdlineError):
        render_dropin(['x="; reboot; "'])


def test_parse_dropin_foreign_file_and_damaged_file():
    assert parse_dropin('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX quiet"\n') is None
    assert parse_dropin("") is None
    with pytest.raises(CmdlineError, match="marker"):
        parse_dropin(DROPIN_MARKER + "\nGRUB_CMDLINE_LINUX=edited\n")


# ---------------------------------------------------------------------------
# conflicts in the base configuration


def test_find_conflicts_names_file_and_variable():
    snapshots = [
        ("/etc/default/grub", {"GRUB_CMDLINE_LINUX": "console=ttyS0 isolcpus=1", "GRUB_CMDLINE_LINUX_DEFAULT": "quiet"}),
        (
            "/etc/default/grub.d/50-local.cfg",
            {"GRUB_CMDLINE_LINUX": "console=ttyS0 isolcpus=1 nosmt", "GRUB_CMDLINE_LINUX_DEFAULT": "quiet"},
        ),
        (
            "/etc/default/grub.d/60-other.cfg",
            {"GRUB_CMDLINE_LINUX": "console=ttyS0 isolcpus=1 nosmt", "GRUB_CMDLINE_LINUX_DEFAULT": "quiet hugepages=4"},
        ),
    ]
    conflicts = find_conflicts(snapshots, ["isolcpus", "nosmt", "hugepages"])
    assert [(c.token, c.source, c.variable) for c in conflicts] == [
        ("isolcpus=1", "/etc/default/grub", "GRUB_CMDLINE_LINUX"),
        ("nosmt", "/etc/default/grub.d/50-local.cfg", "GRUB_CMDLINE_LINUX"),
        ("hugepages=4", "/etc/default/grub.d/60-other.cfg", "GRUB_CMDLINE_LINUX_DEFAULT"),
    ]
    message = conflicts[0].message()
    assert "'isolcpus=1'" in message and "/etc/default/grub" in message and "GRUB_CMDLINE_LINUX" in message
    assert conflicts[0].to_dict() == {
        "arg": "isolcpus=1",
        "key": "isolcpus",
        "source": "/etc/default/grub",
        "variable": "GRUB_CMDLINE_LINUX",
    }


def test_find_conflicts_ignores_tokens_a_later_file_removed_and_substrings():
    snapshots = [
        ("/etc/default/grub", {"GRUB_CMDLINE_LINUX": "isolcpus=1 nosmt=force", "GRUB_CMDLINE_LINUX_DEFAULT": ""}),
        ("/etc/default/grub.d/10-reset.cfg", {"GRUB_CMDLINE_LINUX": "nosmt=force", "GRUB_CMDLINE_LINUX_DEFAULT": ""}),
    ]
    conflicts = find_conflicts(snapshots, ["isolcpus", "nosmtx", "nosm"])
    assert conflicts == []
    conflicts = find_conflicts(snapshots, ["nosmt"])
    assert [(c.token, c.source) for c in conflicts] == [("nosmt=force", "/etc/default/grub")]


# ---------------------------------------------------------------------------
# grub.cfg


def _debian_cfg():
    return (FIXTURES / "debian12" / "boot" / "grub" / "grub.cfg").read_text()


def test_parse_debian_grub_cfg_entries_and_defaults():
    config = parse_grub_cfg(_debian_cfg())
    assert [(e.kind, e.title) for e in config.entries] == [
        ("menuentry", "Debian GNU/Linux"),
        ("submenu", "Advanced options for Debian GNU/Linux"),
    ]
    assert [c.title for c in config.entries[1].children] == [
        "Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64",
        "Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64 (recovery mode)",
    ]
    assert config.defaults == ["${next_entry}", "0"]
    entry, selector = default_entry(config)
    assert selector == "0" and entry.title == "Debian GNU/Linux"
    assert entry_args(entry)[:2] == ["root=UUID=0d7c6a1e-5a55-4c4e-9d51-3b2e8f7d9a10", "ro"]
    assert "console=ttyS0,115200n8" in entry_args(entry)


def test_default_entry_follows_next_entry_then_saved_entry():
    config = parse_grub_cfg(_debian_cfg())
    recovery = "gnulinux-advanced-0d7c6a1e-5a55-4c4e-9d51-3b2e8f7d9a10>1"
    entry, _unused = default_entry(config, {"next_entry": recovery})
    assert entry.title.endswith("(recovery mode)")
    entry, _unused = default_entry(config, {"next_entry": "1>0"})
    assert entry.title == "Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64"
    entry, _unused = default_entry(config, {"next_entry": ""})
    assert entry.title == "Debian GNU/Linux"


def test_ubuntu_saved_default_in_a_submenu():
    text = (FIXTURES / "grub_cfg" / "ubuntu-saved.cfg").read_text()
    env = parse_grubenv((FIXTURES / "grub_cfg" / "ubuntu-saved.grubenv").read_text())
    assert env["saved_entry"] == "gnulinux-advanced-9f1e>gnulinux-5.15.0-91-generic-advanced-9f1e"
    config = parse_grub_cfg(text)
    entry, selector = default_entry(config, env)
    assert selector == env["saved_entry"]
    assert entry.title == "Ubuntu, with Linux 5.15.0-91-generic"
    assert "isolcpus=2-3" in entry_args(entry)
    # without grubenv, saved_entry is unset and GRUB boots entry 0
    entry, selector = default_entry(config, {})
    assert selector == "0" and entry.title == "Ubuntu"


def test_default_entry_unknown_selector_or_submenu():
    config = parse_grub_cfg(_debian_cfg())
    config.defaults = ["No such title"]
    assert default_entry(config) == (None, "No such title")
    config.defaults = ["1"]  # a submenu is not bootable by itself
    assert default_entry(config)[0] is None
    config.defaults = ["0>1"]  # a menuentry has no children
    assert default_entry(config)[0] is None
    assert default_entry(parse_grub_cfg(""))[0] is None


def test_default_entry_by_title():
    config = parse_grub_cfg(_debian_cfg())
    config.defaults = ["Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-28-cloud-amd64"]
    entry, _unused = default_entry(config)
    assert entry.entry_id == "gnulinux-6.1.0-28-cloud-amd64-advanced-0d7c6a1e-5a55-4c4e-9d51-3b2e8f7d9a10"


def test_parse_grubenv():
    text = "# GRUB Environment Block\nsaved_entry=1>2\nnext_entry=\n" + "#" * 900
    assert parse_grubenv(text) == {"saved_entry": "1>2", "next_entry": ""}


# ---------------------------------------------------------------------------
# grubby


GRUBBY_INFO = """index=0
kernel="/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64"
args="ro crashkernel=1G-4G:192M,4G-64G:256M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root isolcpus=1 $tuned_params"
root="/dev/mapper/rhel-root"
initrd="/boot/initramfs-5.14.0-362.8.1.el9_3.x86_64.img $tuned_initrd"
title="Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)"
id="3c6c5d3e0b8f4c5c9f2a-5.14.0-362.8.1.el9_3.x86_64"
index=1
kernel="/boot/vmlinuz-0-rescue-3c6c5d3e0b8f4c5c9f2a"
args="ro crashkernel=1G-4G:192M,4G-64G:256M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root"
root="/dev/mapper/rhel-root"
initrd="/boot/initramfs-0-rescue-3c6c5d3e0b8f4c5c9f2a.img"
title="Red Hat Enterprise Linux (0-rescue-3c6c5d3e0b8f4c5c9f2a) 9.3 (Plow)"
id="3c6c5d3e0b8f4c5c9f2a-0-rescue"
"""


def test_parse_grubby_info():
    kernels = parse_grubby_info(GRUBBY_INFO)
    assert [k["kernel"] for k in kernels] == [
        "/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64",
        "/boot/vmlinuz-0-rescue-3c6c5d3e0b8f4c5c9f2a",
    ]
    assert split_args(kernels[0]["args"])[-2:] == ["isolcpus=1", "$tuned_params"]


def _kernels(*lines):
    return [split_args(line) for line in lines]


def test_grubby_fresh_node_adds_everything_and_records_it():
    plan = plan_grubby(_kernels("ro quiet", "ro"), ["isolcpus=2-3", "nosmt"], ["isolcpus", "nosmt"])
    assert (plan.remove, plan.add, plan.conflicts) == ([], ["isolcpus=2-3", "nosmt"], [])
    assert plan.state_after == {"added": ["isolcpus=2-3", "nosmt"], "replaced": []}
    assert grubby_argv("/usr/sbin/grubby", plan.remove, plan.add) == [
        ["/usr/sbin/grubby", "--update-kernel=ALL", "--args=isolcpus=2-3 nosmt"],
    ]


def test_grubby_rerun_is_a_no_op():
    desired = ["isolcpus=2-3", "nosmt"]
    plan = plan_grubby(_kernels("ro isolcpus=2-3 nosmt", "ro isolcpus=2-3 nosmt"), desired, ["isolcpus", "nosmt"], added=desired)
    assert (plan.remove, plan.add, plan.conflicts) == ([], [], [])
    assert plan.state_after == {"added": desired, "replaced": []}
    assert grubby_argv("grubby", plan.remove, plan.add) == []


def test_grubby_change_removes_owned_tokens_then_adds_the_plan():
    old = ["isolcpus=2-3", "nosmt"]
    new = ["isolcpus=2-3,6-7", "nohz_full=2-3,6-7"]
    plan = plan_grubby(
        _kernels("ro isolcpus=2-3 nosmt quiet", "ro isolcpus=2-3 nosmt"),
        new,
        ["isolcpus", "nosmt", "nohz_full"],
        added=old,
    )
    assert plan.remove == ["isolcpus=2-3", "nosmt"]
    assert plan.add == new
    assert grubby_argv("grubby", plan.remove, plan.add) == [
        ["grubby", "--update-kernel=ALL", "--remove-args=isolcpus=2-3 nosmt"],
        ["grubby", "--update-kernel=ALL", "--args=isolcpus=2-3,6-7 nohz_full=2-3,6-7"],
    ]
    assert (plan.args_before, plan.args_after) == (old, new)


def test_grubby_one_stale_kernel_triggers_the_update():
    desired = ["isolcpus=2-3"]
    plan = plan_grubby(_kernels("ro isolcpus=2-3", "ro"), desired, ["isolcpus"], added=desired)
    assert plan.remove == ["isolcpus=2-3"] and plan.add == desired


def test_grubby_foreign_owned_token_is_a_conflict_and_recorded_as_replaced():
    plan = plan_grubby(_kernels("ro isolcpus=1 nosmt=force"), ["isolcpus=2-3"], ["isolcpus", "nosmt"])
    assert plan.conflicts == ["isolcpus=1", "nosmt=force"]
    assert plan.remove == ["isolcpus=1", "nosmt=force"]
    assert plan.state_after == {"added": ["isolcpus=2-3"], "replaced": ["isolcpus=1", "nosmt=force"]}


def test_grubby_substring_is_not_ours():
    # the state says we added isolcpus=2-3; isolcpus=2-31 on the line is someone else's
    plan = plan_grubby(_kernels("ro isolcpus=2-31"), ["isolcpus=2-3"], ["isolcpus"], added=["isolcpus=2-3"])
    assert plan.conflicts == ["isolcpus=2-31"]


def test_grubby_absent_removes_what_was_added_and_restores_what_was_replaced():
    plan = plan_grubby(
        _kernels("ro isolcpus=2-3 nohz_full=2-3", "ro isolcpus=2-3 nohz_full=2-3"),
        [],
        ["isolcpus", "nohz_full"],
        added=["isolcpus=2-3", "nohz_full=2-3"],
        replaced=["isolcpus=1"],
        state="absent",
    )
    assert plan.remove == ["isolcpus=2-3", "nohz_full=2-3"]
    assert plan.add == ["isolcpus=1"]
    assert plan.state_after is None
    assert (plan.args_before, plan.args_after) == (["isolcpus=2-3", "nohz_full=2-3"], [])


def test_grubby_absent_without_state_does_nothing():
    plan = plan_grubby(_kernels("ro isolcpus=1"), [], ["isolcpus"], state="absent")
    assert (plan.remove, plan.add, plan.conflicts) == ([], [], [])


# ---------------------------------------------------------------------------
# the bootloader of each OS family


@pytest.mark.parametrize(
    "os_release, family",
    [
        ((FIXTURES / "debian12/etc/os-release").read_text(), "Debian"),
        ('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n', "Debian"),
        ('NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n', "RedHat"),
        ('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n', "RedHat"),
        ("ID='almalinux'\n", "RedHat"),
        ("ID=arch\n", "Debian"),  # names itself, not EL: the GRUB drop-in
        ("", None),
    ],
)
def test_os_family_from_os_release(os_release, family):
    assert os_family(os_release) == family


def test_bootloader_settings_of_a_family_and_given_values_win():
    assert bootloader_settings("RedHat") == BOOTLOADERS["RedHat"]
    assert bootloader_settings("RedHat")["grub_cfg"] == "/boot/grub2/grub.cfg"
    assert bootloader_settings(None) == BOOTLOADERS["Debian"]
    debian = bootloader_settings("Debian", backend="auto", grub_cfg=None, mkconfig_command=["update-grub2", "{output}"])
    assert debian["backend"] == "grub_dropin"
    assert debian["grub_cfg"] == "/boot/grub/grub.cfg"
    assert debian["mkconfig_command"] == ["update-grub2", "{output}"]
    assert bootloader_settings("Debian", backend="grubby")["backend"] == "grubby"
    # the table itself is never handed out
    bootloader_settings("Debian")["mkconfig_command"].append("x")
    assert BOOTLOADERS["Debian"]["mkconfig_command"] == ["grub-mkconfig", "-o", "{output}"]
    with pytest.raises(KeyError, match="grub_cfgg"):
        bootloader_settings("Debian", grub_cfgg="/x")


# ---------------------------------------------------------------------------
# The kernel GRUB boots (kernel.realtime)

from ansible_collections.bot4.hft.plugins.module_utils import kernel_cmdline as kc  # noqa: E402


@pytest.mark.parametrize("release,realtime", [
    ("6.1.0-28-rt-amd64", True),
    ("6.1.0-28-rt-arm64", True),
    ("5.14.0-427.13.1.el9_4.x86_64+rt", True),
    ("4.18.0-513.5.1.rt7.307.el8_9.x86_64", True),
    ("5.15.0-1034-realtime", True),
    ("6.1.0-28-amd64", False),
    ("6.1.0-28-cloud-amd64", False),
    ("5.14.0-427.13.1.el9_4.x86_64", False),
    ("6.8.0-rtl-custom", False),
])
def test_realtime_releases_are_told_apart(release, realtime):
    assert kc.is_realtime_release(release) is realtime


def test_installed_releases_and_the_newest_of_each_kind():
    names = ["config-6.1.0-28-amd64", "vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-28-amd64", "vmlinuz-6.1.0-25-rt-amd64",
             "vmlinuz-6.1.0-28-rt-amd64", "vmlinuz-6.1.0-28-amd64.dpkg-tmp", "vmlinuz-", "initrd.img-6.1.0-28-amd64"]
    releases = kc.installed_releases(names)
    assert releases == ["6.1.0-9-amd64", "6.1.0-25-rt-amd64", "6.1.0-28-amd64", "6.1.0-28-rt-amd64"]
    assert kc.pick_kernel(releases, "realtime") == "6.1.0-28-rt-amd64"
    assert kc.pick_kernel(releases, "generic") == "6.1.0-28-amd64"
    assert kc.pick_kernel(["6.1.0-28-amd64"], "realtime") is None


def test_menu_entry_id_is_debians_advanced_entry_through_its_submenu():
    assert kc.menu_entry_id("0d7c-5a55", "6.1.0-28-rt-amd64") == (
        "gnulinux-advanced-0d7c-5a55>gnulinux-6.1.0-28-rt-amd64-advanced-0d7c-5a55")
    with pytest.raises(kc.CmdlineError, match="is not a file system uuid"):
        kc.menu_entry_id("", "6.1.0-28-rt-amd64")
    with pytest.raises(kc.CmdlineError, match="is not a kernel release"):
        kc.menu_entry_id("0d7c", "6.1.0 $(reboot)")


def test_the_dropin_carries_the_default_entry_and_reads_it_back():
    text = kc.render_dropin(["nosoftlockup"], "gnulinux-advanced-u>gnulinux-6.1.0-28-rt-amd64-advanced-u")
    assert text.splitlines()[-1] == 'GRUB_DEFAULT="gnulinux-advanced-u>gnulinux-6.1.0-28-rt-amd64-advanced-u"'
    assert kc.parse_dropin(text) == ["nosoftlockup"]
    assert kc.parse_dropin_default(text) == "gnulinux-advanced-u>gnulinux-6.1.0-28-rt-amd64-advanced-u"
    assert kc.parse_dropin_default(kc.render_dropin(["nosoftlockup"])) is None
    assert kc.parse_dropin_default('GRUB_DEFAULT="x"\n') is None  # not the collection's file
    with pytest.raises(kc.CmdlineError, match="is not a GRUB menu entry id"):
        kc.render_dropin([], 'x"; reboot; "')


@pytest.mark.parametrize("cmdline,release", [
    ("BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=0a1b ro quiet", "6.1.0-28-amd64"),
    ("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-427.el9.x86_64 root=/dev/sda3", "5.14.0-427.el9.x86_64"),
    ("root=/dev/vda1 console=ttyS0", None),
])
def test_the_release_a_command_line_booted(cmdline, release):
    assert kc.boot_image_release(cmdline) == release
