"""The lab node base image: Debian packages only, booting through its own GRUB.

Build (about 2-4 minutes cold under TCG):

1. ``mmdebstrap --variant=important --include=<lab/image/packages.txt>`` into a
   directory, with the guest's apt sources (bookworm, -updates, -security);
2. customise the tree: the files under ``lab/image/rootfs/``, units enabled with
   ``systemctl --root``, fstab by UUID, SSH host keys removed, empty machine-id;
3. a sparse raw disk with an MBR written by ``sfdisk`` and one ext4 partition
   filled straight from the directory by ``mkfs.ext4 -E offset=... -d`` (no loop
   devices, no mounts);
4. one install boot with QEMU ``-kernel/-initrd`` and ``init=`` a script that
   runs ``grub-install /dev/vda && update-grub``, wipes per-machine identity and
   powers off;
5. ``qemu-img convert`` to qcow2: the read-only backing file of every node disk.

The image lives in ``<cache>/images/<content-hash>/``. The hash covers every
build input (package list, guest files, install script, suite, mirrors, disk
size, BUILD_VERSION). The build happens in a temporary sibling directory that is
renamed into place only when complete, so an interrupted build never leaves a
directory that looks like a valid image.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from . import accel as accel_mod
from . import qemu
from .common import IMAGE_SRC_DIR, LabError, die_with_parent, cache_dir, log, read_json, require_tools, run, tail, write_json

# Bump when the build procedure changes in a way that changes the image.
BUILD_VERSION = "bot4-lab-image/3"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DISK_SIZE_MIB = 16384
PARTITION_OFFSET = 1024 * 1024  # first partition at sector 2048
INSTALL_TIMEOUT = 900.0
INSTALL_OK = "BOT4-LAB-INSTALL-RESULT: ok"
INSTALL_SCRIPT_IN_GUEST = "/usr/local/sbin/bot4-lab-image-install"
BASE_NAME = "base.qcow2"
MANIFEST = "manifest.json"
# Files of lab/image/rootfs/ installed executable in the guest.
EXECUTABLES = frozenset({"usr/local/sbin/bot4-lab-seed"})
UNITS_TO_ENABLE = (
    "bot4-lab-seed.service",
    "bot4-lab-ssh-hostkeys.service",
    "systemd-networkd.service",
)
# systemd-networkd configures the network; Debian's ifupdown (priority important,
# so installed) would only bring up lo, after waiting for udev to settle.
UNITS_TO_DISABLE = ("networking.service",)


@dataclass(frozen=True)
class ImageSpec:
    source_dir: Path = IMAGE_SRC_DIR
    suite: str = SUITE
    mirror: str = MIRROR
    security_mirror: str = SECURITY_MIRROR
    disk_size_mib: int = DISK_SIZE_MIB
    build_version: str = BUILD_VERSION

    @property
    def packages_file(self) -> Path:
        return self.source_dir / "packages.txt"

    @property
    def overlay_dir(self) -> Path:
        return self.source_dir / "rootfs"

    @property
    def install_script(self) -> Path:
        return self.source_dir / "install-boot.sh"

    def apt_sources(self) -> List[str]:
        """One-line apt sources, also written to the guest's sources.list."""
        return [
            f"deb {self.mirror} {self.suite} main",
            f"deb {self.mirror} {self.suite}-updates main",
            f"deb {self.security_mirror} {self.suite}-security main",
        ]


def read_list(path: Path) -> List[str]:
    """Entries of a one-per-line list file; '#' starts a comment."""
    items = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line)
    return items


def _source_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            yield Path(dirpath) / name


def hash_inputs(spec: ImageSpec) -> List[Tuple[str, bytes]]:
    """Every input of the build as (label, bytes), in a stable order."""
    inputs: List[Tuple[str, bytes]] = [
        ("build_version", spec.build_version.encode()),
        ("suite", spec.suite.encode()),
        ("apt_sources", "\n".join(spec.apt_sources()).encode()),
        ("disk_size_mib", str(spec.disk_size_mib).encode()),
    ]
    for path in _source_files(spec.source_dir):
        rel = path.relative_to(spec.source_dir).as_posix()
        executable = bool(path.stat().st_mode & stat.S_IXUSR)
        inputs.append((f"file:{rel}:{'x' if executable else '-'}", path.read_bytes()))
    return inputs


def image_id(spec: ImageSpec) -> str:
    h = hashlib.sha256()
    for label, data in hash_inputs(spec):
        h.update(label.encode() + b"\0" + str(len(data)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:20]


def images_dir() -> Path:
    return cache_dir() / "images"


def find_image(spec: ImageSpec) -> Optional[Path]:
    """The cached base image for spec, if a complete one exists."""
    return _complete_image(images_dir() / image_id(spec))


def _complete_image(d: Path) -> Optional[Path]:
    manifest = read_json(d / MANIFEST)
    base = d / BASE_NAME
    if manifest and manifest.get("image_id") == d.name and base.is_file():
        return base
    return None


def manifest_of(base: Path) -> dict:
    return read_json(base.parent / MANIFEST, {}) or {}


def ensure_image(spec: ImageSpec = ImageSpec(), force: bool = False,
                 accel_choice: Optional[str] = None) -> Path:
    """Return the base image path, building it first if needed (or if forced)."""
    if not force:
        found = find_image(spec)
        if found:
            return found
    iid = image_id(spec)
    root = images_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{iid}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another build of image {iid} is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
            force = False  # the other build just produced it
        if not force:
            found = _complete_image(root / iid)
            if found:
                return found
        _remove_stale_builds(root)
        return _build(spec, iid, root, accel_choice)


def _remove_stale_builds(root: Path) -> None:
    for d in root.glob(".tmp-*"):
        try:
            pid = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if not Path(f"/proc/{pid}").exists():
            log(f"removing interrupted build {d.name}")
            safe_rmtree(d)


def _build(spec: ImageSpec, iid: str, root: Path, accel_choice: Optional[str]) -> Path:
    require_tools("mmdebstrap", "sfdisk", "mkfs.ext4", "qemu-img", "systemctl", "dpkg-query",
                  qemu.QEMU_BINARY)
    if os.geteuid() != 0:
        raise LabError("building the node image needs root (mmdebstrap root mode, "
                       "file ownership in mkfs.ext4 -d)")
    tmp = root / f".tmp-{iid}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    started = time.monotonic()
    timings = {}
    try:
        # Build from a snapshot of the sources, so that the image always matches
        # its hash even if lab/image/ is edited while the build runs.
        shutil.copytree(spec.source_dir, tmp / "src", symlinks=True)
        spec = replace(spec, source_dir=tmp / "src")
        if image_id(spec) != iid:
            raise LabError("lab/image/ changed after the build was requested; run it again")
        packages = read_list(spec.packages_file)
        rootfs = tmp / "rootfs"
        t = time.monotonic()
        root_uuid = str(uuid.uuid4())
        fstab = fstab_text(root_uuid)
        log(f"image {iid}: mmdebstrap {spec.suite} with {len(packages)} packages")
        with open(tmp / "mmdebstrap.log", "wb") as out:
            proc = _run_gently(
                ["mmdebstrap", "--mode=root", "--variant=important", "--components=main",
                 "--include=" + ",".join(packages), "--aptopt=Acquire::Retries \"3\"",
                 # fstab before the kernel is installed, so that initramfs-tools
                 # puts fsck for the root file system into the initrd
                 f"--essential-hook=printf '%s' '{fstab}' > \"$1/etc/fstab\"",
                 # the fsck hook cannot probe / at build time (no device): name it
                 "--essential-hook=mkdir -p \"$1/etc/initramfs-tools/conf.d\" && "
                 "echo FSTYPE=ext4 > \"$1/etc/initramfs-tools/conf.d/bot4-lab-fstype\"",
                 spec.suite, str(rootfs), *spec.apt_sources()], out)
        if proc.returncode != 0:
            raise LabError(f"mmdebstrap failed (exit {proc.returncode}):\n"
                           f"{tail(tmp / 'mmdebstrap.log', 30)}")
        timings["mmdebstrap_s"] = round(time.monotonic() - t, 1)

        kernel_version, kernel, initrd = _customize(spec, rootfs, tmp, root_uuid)
        package_versions = run(
            ["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W",
             "-f=${Package}=${Version}\n"], capture_output=True, text=True).stdout.split()

        t = time.monotonic()
        disk = tmp / "disk.raw"
        _make_disk(disk, rootfs, spec.disk_size_mib, root_uuid)
        safe_rmtree(rootfs)
        timings["disk_s"] = round(time.monotonic() - t, 1)

        accel = accel_mod.resolve(accel_choice, kernel)
        t = time.monotonic()
        log(f"image {iid}: install boot (grub-install, update-grub) under {accel}")
        _install_boot(accel, disk, kernel, initrd, tmp / "install-console.log")
        timings["install_boot_s"] = round(time.monotonic() - t, 1)

        t = time.monotonic()
        base = tmp / BASE_NAME
        run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(disk), str(base)],
            capture_output=True)
        disk.unlink()
        shutil.rmtree(tmp / "src")
        os.chmod(base, 0o444)  # backing file of every node disk: never written
        timings["convert_s"] = round(time.monotonic() - t, 1)
        timings["total_s"] = round(time.monotonic() - started, 1)

        write_json(tmp / MANIFEST, {
            "image_id": iid,
            "build_id": uuid.uuid4().hex,
            "build_version": spec.build_version,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "suite": spec.suite,
            "apt_sources": spec.apt_sources(),
            "disk_size_mib": spec.disk_size_mib,
            "root_uuid": root_uuid,
            "kernel_version": kernel_version,
            "accel_used": accel,
            "timings": timings,
            "packages_requested": packages,
            "packages_installed": package_versions,
        })
        final = root / iid
        if final.exists():  # --force: replace the old build
            old = root / f".tmp-{iid}-{os.getpid()}-old"
            final.rename(old)
            tmp.rename(final)
            safe_rmtree(old)
        else:
            tmp.rename(final)
        log(f"image {iid}: built in {timings['total_s']}s")
        return final / BASE_NAME
    except BaseException:
        safe_rmtree(tmp)
        raise


def _run_gently(argv: List[str], out) -> subprocess.CompletedProcess:
    """Run argv; on interruption send SIGTERM and wait, so that mmdebstrap can
    unmount what it mounted inside the chroot (/proc, /sys, /dev) before we
    delete the directory."""
    # Own process group: mmdebstrap forks workers (apt, dpkg in the chroot) that
    # must stop with it.
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        return subprocess.CompletedProcess(argv, proc.wait())
    except BaseException:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(2)
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def mounts_under(path: Path, mountinfo: Optional[str] = None) -> List[str]:
    """Mount points at or below path, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path.resolve())
    found: List[str] = []
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return found
    for line in mountinfo.splitlines():
        mnt = line.split()[4].encode().decode("unicode_escape")
        if mnt == prefix or mnt.startswith(prefix + "/"):
            found.append(mnt)
    return sorted(found, key=len, reverse=True)


def safe_rmtree(path: Path) -> None:
    """rmtree that never descends into a mount (a chroot's bind-mounted /dev or
    /proc would otherwise be emptied on the host)."""
    if not path.exists():
        return
    for mnt in mounts_under(path):
        subprocess.run(["umount", "--lazy", mnt], capture_output=True)
    left = mounts_under(path)
    if left:
        log(f"not removing {path}: still mounted: {', '.join(left)}")
        return
    shutil.rmtree(path, ignore_errors=True)


def fstab_text(root_uuid: str) -> str:
    return (f"# <file system> <mount point> <type> <options> <dump> <pass>\n"
            f"UUID={root_uuid} / ext4 errors=remount-ro 0 1\n")


def _copy_overlay(src: Path, dest_root: Path) -> None:
    """Copy lab/image/rootfs/ into the tree: root-owned, 0755 dirs, 0644 files, 0755
    for the EXECUTABLES (kept non-executable in the repository, so that no tool
    scanning the checkout, e.g. an Ansible inventory directory, runs them)."""
    for path in _source_files(src):
        rel = path.relative_to(src)
        dest = dest_root / rel
        for parent in reversed(rel.parents[:-1]):
            d = dest_root / parent
            if not d.exists():
                d.mkdir(mode=0o755)
                os.chown(d, 0, 0)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        shutil.copyfile(path, dest)
        os.chown(dest, 0, 0)
        os.chmod(dest, 0o755 if rel.as_posix() in EXECUTABLES else 0o644)


def _customize(spec: ImageSpec, rootfs: Path, tmp: Path, root_uuid: str) -> Tuple[str, Path, Path]:
    _copy_overlay(spec.overlay_dir, rootfs)
    (rootfs / "etc/hostname").write_text("bot4-node\n")
    (rootfs / "etc/hosts").write_text(
        "127.0.0.1\tlocalhost\n127.0.1.1\tbot4-node\n\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
    resolv = rootfs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    # QEMU user networking's DNS forwarder (same address on every node).
    resolv.write_text("nameserver 10.0.2.3\n")
    (rootfs / "etc/fstab").write_text(fstab_text(root_uuid))
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/machine-id").write_text("")
    shutil.rmtree(rootfs / "root/.ssh", ignore_errors=True)
    run(["systemctl", f"--root={rootfs}", "enable", *UNITS_TO_ENABLE], capture_output=True)
    present = [u for u in UNITS_TO_DISABLE if (rootfs / "lib/systemd/system" / u).exists()]
    if present:
        run(["systemctl", f"--root={rootfs}", "disable", *present], capture_output=True)
    script = rootfs / INSTALL_SCRIPT_IN_GUEST.lstrip("/")
    shutil.copyfile(spec.install_script, script)
    os.chmod(script, 0o755)

    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise LabError("no kernel in the image (is linux-image-amd64 in packages.txt?)")
    version = kernels[-1].name[len("vmlinuz-"):]
    initrd_src = rootfs / "boot" / f"initrd.img-{version}"
    if not initrd_src.exists():
        raise LabError(f"no initrd for kernel {version} in the image")
    kernel, initrd = tmp / "vmlinuz", tmp / "initrd.img"
    shutil.copyfile(kernels[-1], kernel)
    shutil.copyfile(initrd_src, initrd)
    return version, kernel, initrd


def _make_disk(disk: Path, rootfs: Path, size_mib: int, root_uuid: str) -> None:
    """Sparse raw disk: MBR with one bootable Linux partition, ext4 filled from rootfs."""
    size = size_mib * 1024 * 1024
    with open(disk, "wb") as fh:
        fh.truncate(size)
    layout = f"label: dos\nstart={PARTITION_OFFSET // 512}, type=83, bootable\n"
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(disk)],
        input=layout, text=True, capture_output=True)
    part_kib = (size - PARTITION_OFFSET) // 1024
    # GRUB 2.06 (bookworm) cannot read ext4 with orphan_file/metadata_csum_seed.
    run(["mkfs.ext4", "-q", "-F", "-L", "bot4-root", "-U", root_uuid,
         "-O", "^orphan_file,^metadata_csum_seed",
         "-E", f"offset={PARTITION_OFFSET},root_owner=0:0", "-d", str(rootfs),
         str(disk), f"{part_kib}k"], capture_output=True, text=True)


def _install_boot(accel: str, disk: Path, kernel: Path, initrd: Path, console: Path) -> None:
    argv = qemu.install_argv(qemu.QEMU_BINARY, accel, disk, kernel, initrd, console,
                             INSTALL_SCRIPT_IN_GUEST)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        out, _ = proc.communicate(timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LabError(f"install boot did not finish in {INSTALL_TIMEOUT:.0f}s; console tail:\n"
                       f"{tail(console)}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    console_text = console.read_text(errors="replace") if console.exists() else ""
    if proc.returncode != 0 or INSTALL_OK not in console_text:
        raise LabError(f"install boot failed (qemu exit {proc.returncode}) "
                       f"{out.decode(errors='replace').strip()}\nconsole tail:\n{tail(console)}")
