# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel command lines as lists of tokens, and the bootloader edits that own a set of them.

The collection owns a set of kernel argument *keys* (``isolcpus``, ``nohz_full``,
``hugepagesz``, ``nosmt`` ...) and wants the boot command line to carry an
ordered list of owned *arguments*.  Everything here compares whole tokens the
way the kernel splits them, never substrings: ``isolcpus=2-3`` is not
``isolcpus=2-31`` and ``nosmt`` is not ``nosmt=force``.

Order matters for owned arguments: ``hugepagesz=1G hugepages=4 hugepagesz=2M
hugepages=512`` means something else than the same tokens interleaved another
way, so "the boot carries the plan" is "the owned tokens of the boot, in
order, are the planned list".

Pure functions over text and lists (no I/O).  ``bootloader.py`` does the
reading, writing and command running for the module ``bot4.hft.kernel_cmdline``
and for ``bot4.hft.node_state_info``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = [
    "DROPIN_MARKER",
    "CmdlineError",
    "Conflict",
    "GrubEntry",
    "GrubConfig",
    "GrubbyPlan",
    "split_args",
    "parse_token",
    "token_key",
    "normalize",
    "kernel_args",
    "validate_args",
    "owned_keys_for",
    "owned_tokens",
    "strip_base",
    "boot_matches",
    "missing_and_unexpected",
    "diff_args",
    "render_dropin",
    "parse_dropin",
    "parse_dropin_default",
    "is_realtime_release",
    "release_of_image",
    "installed_releases",
    "pick_kernel",
    "menu_entry_id",
    "entry_release",
    "boot_image_release",
    "find_conflicts",
    "parse_grub_cfg",
    "parse_grubenv",
    "default_entry",
    "entry_args",
    "parse_grubby_info",
    "plan_grubby",
    "grubby_argv",
    "BOOTLOADERS",
    "os_family",
    "bootloader_settings",
]

# The kernel's isspace(): space, \t, \n, \v, \f, \r.
_WHITESPACE = " \t\n\v\f\r"
# Characters that a GRUB script (grub.cfg) or a shell (the drop-in) would
# interpret on a `linux` line or inside a double-quoted string.  No real kernel
# argument needs them, so they are refused rather than escaped.
_FORBIDDEN_CHARS = set("$`\\'; &|<>{}#")

DROPIN_MARKER = "# Managed by bot4.hft (bot4.hft.kernel_cmdline)."
_DROPIN_LINE_RE = re.compile(r'^GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX(?: (?P<args>.*))?"$')
_DEFAULT_LINE_RE = re.compile(r'^GRUB_DEFAULT="(?P<id>[^"]*)"$')
# A GRUB menu entry id as grub-mkconfig builds them (release, uuid, '>' between levels).
_ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9._+~>-]+$")


class CmdlineError(ValueError):
    """A kernel argument or a bootloader file the module cannot work with."""


# ---------------------------------------------------------------------------
# Tokens


def split_args(text: str) -> List[str]:
    """Split a kernel command line into raw tokens exactly as the kernel does.

    This is ``next_arg()`` of ``lib/cmdline.c``/``kernel/params.c``: tokens are
    separated by whitespace outside double quotes; a quote toggles quoting
    anywhere in a token, so ``foo="a b"`` and ``"foo=a b"`` are one token each.
    Tokens keep their quotes (so they render back unchanged); use
    ``normalize()`` to compare them.
    """
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            break
        start = i
        in_quote = False
        if text[i] == '"':
            in_quote = True
            i += 1
        while i < n:
            char = text[i]
            if char in _WHITESPACE and not in_quote:
                break
            if char == '"':
                in_quote = not in_quote
            i += 1
        tokens.append(text[start:i])
    return tokens


def parse_token(token: str) -> Tuple[str, Optional[str]]:
    """Return ``(key, value)`` of one raw token; value is None for a flag.

    Quotes are removed exactly where the kernel removes them before it hands
    the parameter to its handler (``next_arg()``): a leading quote of the
    token, a leading quote of the value, and then one trailing quote.
    """
    quoted = token.startswith('"')
    text = token[1:] if quoted else token
    end = len(text)
    # the first '=' that is not the first character separates key and value
    equals = text.find("=", 1) if text[:1] == "=" else text.find("=")
    trailing_done = False
    if equals > 0:
        key = text[:equals]
        start = equals + 1
        if text[start:start + 1] == '"':
            start += 1
            if text[end - 1] == '"':
                end -= 1
                trailing_done = True
        if quoted and not trailing_done and end > start and text[end - 1] == '"':
            end -= 1
        return key, text[start:end] if end >= start else ""
    if quoted and end > 0 and text[end - 1] == '"':
        end -= 1
    return text[:end], None


def token_key(token: str) -> str:
    """The parameter name of a token: ``isolcpus=2-3`` -> ``isolcpus``, ``nosmt`` -> ``nosmt``."""
    return parse_token(token)[0]


def normalize(token: str) -> str:
    """The token as its handler sees it: ``foo="a b"`` and ``"foo=a b"`` -> ``foo=a b``."""
    key, value = parse_token(token)
    return key if value is None else "%s=%s" % (key, value)


def kernel_args(text: str) -> List[str]:
    """Raw tokens of a command line that the kernel parses itself (everything before ``--``)."""
    tokens = split_args(text)
    if "--" in tokens:
        tokens = tokens[: tokens.index("--")]
    return tokens


def arg_value(tokens: Sequence[str], key: str, default: Optional[str] = None) -> Optional[str]:
    """The value of the last ``key=`` token (the one the kernel uses), else ``default``."""
    value = default
    for token in tokens:
        name, val = parse_token(token)
        if name == key and val is not None:
            value = val
    return value


def validate_args(args: Sequence[str]) -> List[str]:
    """Check that each desired argument is one well-formed kernel token; return them.

    Raise CmdlineError naming the argument otherwise.
    """
    checked = []
    for arg in args:
        if not isinstance(arg, str):
            raise CmdlineError("kernel argument %r is not a string" % (arg,))
        if not arg or arg.strip() != arg:
            raise CmdlineError("kernel argument %r is empty or has leading/trailing whitespace" % arg)
        if any(ord(c) < 32 or ord(c) == 127 for c in arg):
            raise CmdlineError("kernel argument %r contains a control character" % arg)
        bad = sorted(set(arg) & _FORBIDDEN_CHARS - {" "})
        if bad:
            raise CmdlineError(
                "kernel argument %r contains %s, which the bootloader configuration would interpret"
                % (arg, " ".join(repr(c) for c in bad))
            )
        if split_args(arg) != [arg]:
            raise CmdlineError("kernel argument %r is not exactly one token (quote values with spaces: key=\"a b\")" % arg)
        if arg.count('"') % 2:
            raise CmdlineError("kernel argument %r has an unbalanced double quote" % arg)
        key = token_key(arg)
        if not key or key == "--" or arg.startswith("="):
            raise CmdlineError("kernel argument %r has no parameter name" % arg)
        checked.append(arg)
    return checked


def owned_keys_for(args: Iterable[str], owned_keys: Iterable[str]) -> List[str]:
    """The owned keys, extended by the key of every desired argument (sorted, unique)."""
    keys = set(k for k in owned_keys if k)
    keys.update(token_key(a) for a in args)
    return sorted(keys)


def owned_tokens(tokens: Iterable[str], owned_keys: Iterable[str]) -> List[str]:
    """The normalized tokens whose key is owned, in command line order."""
    keys = set(owned_keys)
    return [normalize(t) for t in tokens if token_key(t) in keys]


def _remove_once(seq: List[str], item: str, from_end: bool) -> bool:
    indexes = range(len(seq) - 1, -1, -1) if from_end else range(len(seq))
    for i in indexes:
        if seq[i] == item:
            del seq[i]
            return True
    return False


def strip_base(owned: Sequence[str], head: Sequence[str] = (), tail: Sequence[str] = ()) -> List[str]:
    """Remove owned tokens that the base configuration (not the collection) puts on the line.

    ``head`` tokens come before the collection's arguments (GRUB_CMDLINE_LINUX
    of /etc/default/grub), ``tail`` tokens after them (GRUB_CMDLINE_LINUX_DEFAULT):
    one occurrence of each is removed from the front or the back respectively.
    """
    result = list(owned)
    for token in head:
        _remove_once(result, normalize(token), from_end=False)
    for token in reversed(list(tail)):
        _remove_once(result, normalize(token), from_end=True)
    return result


def boot_matches(
    tokens: Sequence[str],
    desired: Sequence[str],
    owned_keys: Iterable[str],
    head: Sequence[str] = (),
    tail: Sequence[str] = (),
) -> bool:
    """True iff the owned tokens of a command line are exactly ``desired``, in order."""
    owned = strip_base(owned_tokens(tokens, owned_keys), head, tail)
    return owned == [normalize(d) for d in desired]


def missing_and_unexpected(
    tokens: Sequence[str],
    desired: Sequence[str],
    owned_keys: Iterable[str],
    head: Sequence[str] = (),
    tail: Sequence[str] = (),
) -> Tuple[List[str], List[str]]:
    """Desired args absent from a command line, and owned tokens on it that are not desired."""
    owned = strip_base(owned_tokens(tokens, owned_keys), head, tail)
    present = list(owned)
    missing = []
    for arg in desired:
        if not _remove_once(present, normalize(arg), from_end=False):
            missing.append(arg)
    return missing, present


def diff_args(before: Sequence[str], after: Sequence[str]) -> Dict[str, List[str]]:
    """Added and removed arguments between two owned lists (compared as tokens, with multiplicity)."""
    remaining = [normalize(a) for a in before]
    added = []
    for arg in after:
        if not _remove_once(remaining, normalize(arg), from_end=False):
            added.append(arg)
    leftover = list(remaining)
    removed = []
    for arg in before:
        if _remove_once(leftover, normalize(arg), from_end=False):
            removed.append(arg)
    return {"added": added, "removed": removed}


# ---------------------------------------------------------------------------
# Debian/Ubuntu: the GRUB drop-in


def render_dropin(args: Sequence[str], grub_default: Optional[str] = None) -> str:
    """The text of the collection's /etc/default/grub.d drop-in for ``args``.

    Arguments are validated (``validate_args``), so a double quote is the only
    character that needs escaping inside the shell's double-quoted string.
    ``grub_default``: a menu entry id (``menu_entry_id``) that the drop-in makes
    GRUB's default, or None to leave GRUB_DEFAULT to the node's own files.
    """
    validate_args(args)
    escaped = " ".join(a.replace('"', '\\"') for a in args)
    value = "$GRUB_CMDLINE_LINUX" + (" " + escaped if escaped else "")
    text = (
        DROPIN_MARKER + "\n"
        "# Kernel arguments owned by the collection, appended to GRUB_CMDLINE_LINUX.\n"
        "# Do not edit: every run rewrites this file and state=absent removes it;\n"
        "# change the node group's hft_profile instead.\n"
        'GRUB_CMDLINE_LINUX="%s"\n' % value
    )
    if grub_default is not None:
        if not _ENTRY_ID_RE.match(grub_default):
            raise CmdlineError("%r is not a GRUB menu entry id" % (grub_default,))
        text += (
            "# The kernel the node boots (kernel.realtime), by its menu entry id.\n"
            'GRUB_DEFAULT="%s"\n' % grub_default
        )
    return text


def _dropin_match(text: str, pattern: "re.Pattern[str]") -> Tuple[bool, Optional["re.Match[str]"]]:
    """(whether ``text`` is the collection's drop-in, the first of its lines ``pattern`` matches)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != DROPIN_MARKER:
        return False, None
    return True, next((m for m in (pattern.match(line.strip()) for line in lines[1:]) if m), None)


def parse_dropin(text: str) -> Optional[List[str]]:
    """The arguments of a drop-in written by ``render_dropin``.

    Return None when ``text`` is not the collection's drop-in (no marker);
    raise CmdlineError when it carries the marker but not the expected line.
    """
    ours, match = _dropin_match(text, _DROPIN_LINE_RE)
    if not ours:
        return None
    if match is None:
        raise CmdlineError("the drop-in carries the bot4.hft marker but no GRUB_CMDLINE_LINUX line it can read")
    return split_args((match.group("args") or "").replace('\\"', '"'))


def parse_dropin_default(text: str) -> Optional[str]:
    """The menu entry id that a drop-in written by ``render_dropin`` makes the default, or None."""
    _ours, match = _dropin_match(text, _DEFAULT_LINE_RE)
    return match.group("id") if match else None


# ---------------------------------------------------------------------------
# The kernel GRUB boots (kernel.realtime)

# Debian names its PREEMPT_RT kernels <abi>-rt-<flavour> (6.1.0-28-rt-amd64),
# EL <version>.rt<n>.<dist>.<arch> (EL 8) or <version>.<arch>+rt (EL 9),
# Ubuntu <abi>-realtime.
_RT_RELEASE_RE = re.compile(r"(?:^|[-.+])(?:rt|realtime)(?:[-.0-9]|$)")


def is_realtime_release(release: str) -> bool:
    """Whether a kernel release (``uname -r``) names a distribution's PREEMPT_RT kernel."""
    return bool(_RT_RELEASE_RE.search(release))


def release_of_image(path: str) -> Optional[str]:
    """The release of a kernel image path (``/boot/vmlinuz-<release>``, ``(hd0,gpt2)/vmlinuz-...``)."""
    name = path.rsplit("/", 1)[-1].rsplit(")", 1)[-1]
    if not name.startswith("vmlinuz-") or len(name) == len("vmlinuz-"):
        return None
    return name[len("vmlinuz-"):]


def installed_releases(names: Iterable[str]) -> List[str]:
    """The kernel releases of a /boot listing (``vmlinuz-<release>``; ``.old`` links and
    dpkg leftovers are not kernels)."""
    releases = []
    for name in names:
        release = release_of_image(name)
        if release and not release.endswith((".old", ".dpkg-tmp", ".dpkg-new", ".dpkg-bak")):
            releases.append(release)
    return sorted(set(releases), key=_version_key)


def _version_key(release: str) -> Tuple[Tuple[int, int, str], ...]:
    """Order of ``sort -V`` (what grub-mkconfig sorts kernels with) on the releases seen on nodes."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", release))


def pick_kernel(releases: Iterable[str], flavour: str) -> Optional[str]:
    """The newest installed release of a flavour (``realtime`` or ``generic``), or None."""
    want = flavour == "realtime"
    candidates = [r for r in releases if is_realtime_release(r) == want]
    return max(candidates, key=_version_key) if candidates else None


def menu_entry_id(fs_uuid: str, release: str) -> str:
    """Debian's grub-mkconfig id of the advanced entry booting ``release``, through its submenu.

    10_linux names the submenu ``gnulinux-advanced-<uuid>`` and its entries
    ``gnulinux-<release>-advanced-<uuid>``, with the root file system's uuid
    (``grub-probe --target=fs_uuid /``); ``>`` separates the levels.
    """
    if not fs_uuid or not _ENTRY_ID_RE.match(fs_uuid) or ">" in fs_uuid:
        raise CmdlineError("%r is not a file system uuid" % (fs_uuid,))
    if not release or not _ENTRY_ID_RE.match(release) or ">" in release:
        raise CmdlineError("%r is not a kernel release" % (release,))
    return "gnulinux-advanced-%s>gnulinux-%s-advanced-%s" % (fs_uuid, release, fs_uuid)


def entry_release(entry: "GrubEntry") -> Optional[str]:
    """The kernel release a menu entry boots (from its ``linux`` line), or None."""
    if not entry.linux:
        return None
    tokens = kernel_args(entry.linux)
    return release_of_image(tokens[0]) if tokens else None


def boot_image_release(cmdline: str) -> Optional[str]:
    """The release of the kernel a command line booted (its ``BOOT_IMAGE=``), or None."""
    value = arg_value(kernel_args(cmdline), "BOOT_IMAGE")
    return release_of_image(value) if value else None


@dataclass
class Conflict:
    """An owned key set outside the collection's control."""

    token: str
    source: str
    variable: str

    def message(self) -> str:
        return "kernel argument %r (key %r is owned by bot4.hft) is set in %s (%s)" % (
            self.token,
            token_key(self.token),
            self.source,
            self.variable,
        )

    def to_dict(self) -> Dict[str, str]:
        return {"arg": self.token, "key": token_key(self.token), "source": self.source, "variable": self.variable}


def find_conflicts(
    snapshots: Sequence[Tuple[str, Dict[str, str]]],
    owned_keys: Iterable[str],
) -> List[Conflict]:
    """Owned tokens that the base GRUB configuration sets, each with the file that set it.

    ``snapshots`` holds, for each configuration file in the order GRUB sources
    them, the file and the values of the GRUB_CMDLINE_* variables after it was
    sourced.  Only tokens still present after the last file count; each is
    attributed to the file from which on it stayed on the line.
    """
    keys = set(owned_keys)
    live = {}  # type: Dict[str, List[Tuple[str, str, str]]]
    for source, variables in snapshots:
        for variable, value in variables.items():
            before = list(live.get(variable, []))
            now = []
            for token in split_args(value):
                if token_key(token) not in keys:
                    continue
                norm = normalize(token)
                origin = source
                for i, (old_norm, _old_token, old_source) in enumerate(before):
                    if old_norm == norm:
                        origin = old_source
                        del before[i]
                        break
                now.append((norm, token, origin))
            live[variable] = now
    conflicts = []
    for variable in sorted(live):
        for _norm, token, source in live[variable]:
            conflicts.append(Conflict(token, source, variable))
    return conflicts


# ---------------------------------------------------------------------------
# grub.cfg: the default entry and its `linux` line


@dataclass
class GrubEntry:
    kind: str  # menuentry | submenu
    title: str
    entry_id: str = ""
    linux: Optional[str] = None  # the raw text after the linux command word
    children: List["GrubEntry"] = field(default_factory=list)


@dataclass
class GrubConfig:
    entries: List[GrubEntry]
    defaults: List[str]  # every `set default=` value, in file order


_LINUX_COMMANDS = ("linux", "linuxefi", "linux16")


def _words(line: str) -> List[str]:
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def parse_grub_cfg(text: str) -> GrubConfig:
    """Read menu entries (with submenus), their ``linux`` lines and ``set default=`` values."""
    entries = []  # type: List[GrubEntry]
    defaults = []  # type: List[str]
    # stack of open brace blocks: a GrubEntry for menu blocks, None for others (functions)
    stack = []  # type: List[Optional[GrubEntry]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        words = _words(line)
        if not words:
            continue
        command = words[0]
        if command in ("menuentry", "submenu") and line.endswith("{"):
            title = words[1] if len(words) > 1 else ""
            entry_id = ""
            for i, word in enumerate(words[:-1]):
                if word in ("$menuentry_id_option", "--id") and i + 1 < len(words) - 1:
                    entry_id = words[i + 1]
            entry = GrubEntry(kind=command, title=title, entry_id=entry_id)
            parent = next((e for e in reversed(stack) if e is not None), None)
            if parent is not None and parent.kind == "submenu":
                parent.children.append(entry)
            elif parent is None and not any(e is not None for e in stack):
                entries.append(entry)
            stack.append(entry)
            continue
        if line.endswith("{"):
            stack.append(None)
            continue
        if command in _LINUX_COMMANDS:
            current = stack[-1] if stack else None
            if current is not None and current.kind == "menuentry" and current.linux is None:
                current.linux = line[len(command):].strip()
            continue
        if command == "set" and not any(e is not None for e in stack):
            for word in words[1:]:
                if word.startswith("default="):
                    defaults.append(word[len("default="):])
    return GrubConfig(entries=entries, defaults=defaults)


def parse_grubenv(text: str) -> Dict[str, str]:
    """Variables of a GRUB environment block (``key=value`` lines, ``#`` padding)."""
    env = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key] = value
    return env


def _select(items: List[GrubEntry], selector: str) -> Optional[GrubEntry]:
    if selector.isdigit():
        index = int(selector)
        return items[index] if index < len(items) else None
    for item in items:
        if selector in (item.entry_id, item.title):
            return item
    return None


def default_entry(config: GrubConfig, grubenv: Optional[Dict[str, str]] = None) -> Tuple[Optional[GrubEntry], str]:
    """The menu entry GRUB boots next, and the selector that names it.

    Follows Debian's grub.cfg: ``next_entry`` from grubenv (grub-reboot) wins when
    the config honours it, then the last other ``set default=`` value, with
    ``${saved_entry}`` read from grubenv.  Selectors are an index, a title or an
    id, with ``>`` between submenu levels.  Returns ``(None, selector)`` when the
    selector names no menu entry.
    """
    env = grubenv or {}
    values = [v for v in config.defaults if v != "${next_entry}"]
    selector = values[-1] if values else "0"
    if "${next_entry}" in config.defaults and env.get("next_entry"):
        selector = env["next_entry"]
    if selector == "${saved_entry}":
        selector = env.get("saved_entry") or "0"
    selector = selector or "0"
    items = config.entries
    entry = None
    parts = selector.split(">")
    for depth, part in enumerate(parts):
        entry = _select(items, part)
        if entry is None:
            return None, selector
        if depth < len(parts) - 1:
            if entry.kind != "submenu":
                return None, selector
            items = entry.children
    if entry is None or entry.kind != "menuentry":
        return None, selector
    return entry, selector


def entry_args(entry: GrubEntry) -> List[str]:
    """Kernel arguments of a menu entry's linux line (the kernel image path dropped)."""
    if not entry.linux:
        return []
    return kernel_args(entry.linux)[1:]


# ---------------------------------------------------------------------------
# EL 8/9: grubby


def parse_grubby_info(text: str) -> List[Dict[str, str]]:
    """Kernels from ``grubby --info=ALL``: a list of dicts with ``kernel`` and ``args``."""
    kernels = []  # type: List[Dict[str, str]]
    current = None  # type: Optional[Dict[str, str]]
    for line in text.splitlines():
        line = line.strip()
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        if key == "index":
            current = {"index": value, "kernel": "", "args": ""}
            kernels.append(current)
        elif current is not None:
            current[key] = value
    return kernels


@dataclass
class GrubbyPlan:
    remove: List[str]
    add: List[str]
    conflicts: List[str]
    state_after: Optional[Dict[str, List[str]]]  # None: the state file is removed
    args_before: List[str]
    args_after: List[str]


def _unique(items: Iterable[str]) -> List[str]:
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def plan_grubby(
    kernels: Sequence[Sequence[str]],
    desired: Sequence[str],
    owned_keys: Iterable[str],
    added: Sequence[str] = (),
    replaced: Sequence[str] = (),
    state: str = "present",
) -> GrubbyPlan:
    """What grubby must remove and add so that every kernel carries exactly ``desired``.

    ``kernels``: the argument tokens of each boot entry (``--update-kernel=ALL``
    edits them all).  ``added``/``replaced``: the state file, i.e. what the
    collection added and which foreign owned tokens it replaced (put back on
    removal).  Owned tokens that are neither recorded as added nor desired are
    conflicts; the caller decides whether to fail.  With ``state=absent`` the
    added tokens are removed and the replaced ones restored.

    grubby appends ``--args`` at the end and drops existing tokens of the same
    key first, so a kernel whose owned tokens differ from ``desired`` in any
    way gets all of its owned tokens removed and ``desired`` added in order.
    """
    keys = set(owned_keys)
    wanted = [normalize(d) for d in desired]
    recorded = set(normalize(a) for a in added)
    conflicts = []
    owned_raw = []
    for tokens in kernels:
        for token in tokens:
            if token_key(token) in keys:
                owned_raw.append(token)
                if normalize(token) not in recorded and normalize(token) not in wanted:
                    conflicts.append(token)
    conflicts = _unique(conflicts)
    if state == "absent":
        present = set(normalize(t) for tokens in kernels for t in tokens)
        remove = _unique(t for tokens in kernels for t in tokens if normalize(t) in recorded)
        restore = []
        for token in replaced:
            if normalize(token) not in present or normalize(token) in recorded:
                restore.append(token)
        return GrubbyPlan(
            remove=remove,
            add=_unique(restore),
            conflicts=[],
            state_after=None,
            args_before=list(added),
            args_after=[],
        )
    needs = any(owned_tokens(tokens, keys) != wanted for tokens in kernels)
    remove = _unique(owned_raw) if needs else []
    replaced_after = _unique(list(replaced) + [t for t in conflicts if t in remove])
    return GrubbyPlan(
        remove=remove,
        add=list(desired) if needs else [],
        conflicts=conflicts,
        state_after={"added": list(desired), "replaced": replaced_after},
        args_before=list(added),
        args_after=list(desired),
    )


def grubby_argv(grubby: str, remove: Sequence[str], add: Sequence[str]) -> List[List[str]]:
    """The grubby invocations for a plan: removals first, then additions (one call each)."""
    argvs = []
    if remove:
        argvs.append([grubby, "--update-kernel=ALL", "--remove-args=" + " ".join(remove)])
    if add:
        argvs.append([grubby, "--update-kernel=ALL", "--args=" + " ".join(add)])
    return argvs


# ---------------------------------------------------------------------------
# The bootloader of each OS family

# Debian and Ubuntu: a drop-in under /etc/default/grub.d, then update-grub
# (grub-mkconfig -o /boot/grub/grub.cfg) into a checked temporary file.
# EL 8/9: grubby edits every boot entry (BLS); the module records what it added.
BOOTLOADERS = {
    "Debian": {
        "backend": "grub_dropin",
        "grub_cfg": "/boot/grub/grub.cfg",
        "grubenv": "/boot/grub/grubenv",
        "mkconfig_command": ["grub-mkconfig", "-o", "{output}"],
        "script_check_command": ["grub-script-check"],
    },
    "RedHat": {
        "backend": "grubby",
        "grub_cfg": "/boot/grub2/grub.cfg",
        "grubenv": "/boot/grub2/grubenv",
        "mkconfig_command": ["grub2-mkconfig", "-o", "{output}"],
        "script_check_command": ["grub2-script-check"],
    },
}
_RHEL_IDS = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"}


def os_family(os_release: str) -> Optional[str]:
    """The OS family (a key of BOOTLOADERS) that /etc/os-release's ID and ID_LIKE name.

    ``RedHat`` for the RHEL family, ``Debian`` for any other distribution that
    names itself, None when the text names none (no /etc/os-release).
    """
    ids = set()
    for line in os_release.splitlines():
        if line.startswith(("ID=", "ID_LIKE=")):
            ids.update(line.split("=", 1)[1].strip().strip('"').strip("'").split())
    if ids & _RHEL_IDS:
        return "RedHat"
    return "Debian" if ids else None


def bootloader_settings(family: Optional[str], **given: object) -> Dict[str, object]:
    """The bootloader settings of an OS family, with the ``given`` ones that are set winning.

    ``given`` holds the keys of BOOTLOADERS' entries; None (and ``backend``
    ``auto``) leaves the family's value.  An unknown family has Debian's.
    """
    settings = dict(BOOTLOADERS.get(family or "Debian", BOOTLOADERS["Debian"]))
    for key, value in given.items():
        if key not in settings:
            raise KeyError("unknown bootloader setting %r" % key)
        if value is not None and value != "auto":
            settings[key] = value
    settings = {k: list(v) if isinstance(v, list) else v for k, v in settings.items()}
    return settings
