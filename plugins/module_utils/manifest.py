# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node's manifest: what the collection wrote on a node and what it replaced.

Before a role writes a path, it records the path here (module
bot4.hft.node_manifest, ``state: recorded``). The first record of a path wins:
it holds what was there before the collection touched it, as
``{"type": "absent"}``, a file (content, mode, owner), a symlink (target) or
a directory that existed. Missing parent directories are recorded as absent
too, so that untune leaves no empty directory behind. The first record also
keeps the kernel arguments the node was running (``cmdline``).

A path marked ``owned`` has a name that belongs to the collection (for
example ``/etc/sysctl.d/90-bot4-hft.conf``): whatever is there is the
collection's own, so its earlier state is "absent" even on a node tuned by an
older release that kept no manifest. A ``tree`` is an owned directory removed
as a whole.

At the end of a complete run, ``state: written`` stores a digest of what each
path now holds. Untune (``state: restored``) puts back every recorded path in
the reverse order of the records. A shared file (not owned) that someone
changed after the collection wrote it is copied aside first (``<path>.<time>~``,
as Ansible's ``backup``), so that nothing is lost.

Pure decisions (``restore_actions``) are separate from the writes
(``apply_actions``), and every path is checked before anything is written.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import stat
import time

MANIFEST_FORMAT = 1
DEFAULT_MANIFEST = "/var/lib/bot4-hft/manifest.json"


class ManifestError(Exception):
    """A path or a manifest that cannot be used; the message names the path."""


def check_path(path):
    """An absolute, normalised path below / (not / itself): the path, or ManifestError."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ManifestError("%r: not an absolute path" % (path,))
    if "\0" in path or os.path.normpath(path) != path or path.startswith("//"):
        raise ManifestError("%s: not a normalised path (no '.', '..', '//' or trailing '/')" % path)
    if path == "/":
        raise ManifestError("/: the root directory cannot be recorded")
    return path


def _full(root, path):
    return os.path.join(root, path.lstrip("/"))


def read_state(root, path, content=True):
    """What is at ``path`` now: absent, file (content, mode, owner), symlink (target) or dir."""
    full = _full(root, path)
    try:
        info = os.lstat(full)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return {"type": "absent"}
        raise
    owner = {"mode": "%04o" % stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid}
    if stat.S_ISLNK(info.st_mode):
        return {"type": "symlink", "target": os.readlink(full)}
    if stat.S_ISDIR(info.st_mode):
        return dict(owner, type="dir")
    if stat.S_ISREG(info.st_mode):
        state = dict(owner, type="file")
        if content:
            with open(full, "rb") as handle:
                data = handle.read()
            state["content"] = base64.b64encode(data).decode("ascii")
            state["sha256"] = hashlib.sha256(data).hexdigest()
        return state
    raise ManifestError("%s: neither a file, a symlink nor a directory" % path)


IF_CHANGED = ("backup", "leave")


def _digest(state):
    """What identifies a state for comparison: its type and content or target, mode and owner."""
    keys = ("type", "sha256", "target", "mode", "uid", "gid")
    return {key: state[key] for key in keys if key in state}


def new_manifest(cmdline):
    return {"format": MANIFEST_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cmdline": cmdline, "cmdline_untouched": True, "entries": []}


def load(text, source):
    """A manifest from its JSON text; ManifestError naming ``source`` when it is not one."""
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ManifestError("%s: not JSON (%s)" % (source, exc))
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError("%s: not a format-%d manifest" % (source, MANIFEST_FORMAT))
    if not isinstance(manifest.get("entries"), list):
        raise ManifestError("%s: has no list of entries" % source)
    for entry in manifest["entries"]:
        check_path(entry.get("path"))
        if entry.get("kind") not in ("file", "tree", "dir"):
            raise ManifestError("%s: entry %s has an unknown kind %r" % (source, entry["path"], entry.get("kind")))
    return manifest


def record(manifest, root, specs, cmdline, state_dir):
    """Add the paths in ``specs`` that the manifest does not hold yet; return (manifest, added paths).

    ``specs``: dicts with ``path``, ``owned``, ``tree`` and ``if_changed`` (``backup``, the default:
    a file changed since the collection wrote it is copied aside and put back; ``leave``: it is left
    as it is and reported, for a caller that merges its own part back). ``state_dir`` (the
    manifest's own directory) is recorded first, as an owned tree. Every path
    is checked before the manifest changes.
    """
    specs = [dict(spec, path=check_path(spec["path"])) for spec in specs]
    for spec in specs:
        if spec.get("if_changed", "backup") not in IF_CHANGED:
            raise ManifestError("%s: if_changed must be one of %s" % (spec["path"], ", ".join(IF_CHANGED)))
        if spec.get("tree") and not spec.get("owned"):
            raise ManifestError("%s: a tree must be owned by the collection" % spec["path"])
    if manifest is None:
        manifest = new_manifest(cmdline)
        specs = [{"path": check_path(state_dir), "owned": True, "tree": True}] + specs
        # A node tuned by a release that kept no manifest runs tuned kernel
        # arguments already: the cmdline is then not the one from before.
        manifest["cmdline_untouched"] = not any(
            spec.get("owned") and read_state(root, spec["path"], content=False)["type"] != "absent"
            for spec in specs[1:])
    else:
        manifest = dict(manifest, entries=list(manifest["entries"]))
    known = set(entry["path"] for entry in manifest["entries"])
    added = []

    def add(entry):
        manifest["entries"].append(entry)
        known.add(entry["path"])
        added.append(entry["path"])

    for spec in specs:
        path = spec["path"]
        missing, parent = [], os.path.dirname(path)
        while parent != "/" and read_state(root, parent, content=False)["type"] == "absent":
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            if directory not in known:
                add({"path": directory, "kind": "dir", "owned": False, "before": {"type": "absent"}})
        if path in known:
            continue
        owned, tree = bool(spec.get("owned")), bool(spec.get("tree"))
        if owned:
            before = {"type": "absent"}
        else:
            before = read_state(root, path)
            if before["type"] == "dir":
                raise ManifestError("%s: is a directory; only a file or symlink of another owner can be recorded"
                                    % path)
        entry = {"path": path, "kind": "tree" if tree else "file", "owned": owned, "before": before}
        if spec.get("if_changed", "backup") != "backup":
            entry["if_changed"] = spec["if_changed"]
        add(entry)
    return manifest, added


def written(manifest, root):
    """The manifest with a digest of what every recorded path holds now (after a complete run)."""
    entries = []
    for entry in manifest["entries"]:
        entry = dict(entry)
        entry["written"] = _digest(read_state(root, entry["path"], content=entry["kind"] == "file"))
        entries.append(entry)
    return dict(manifest, entries=entries)


def restore_actions(manifest, root, stamp):
    """The actions that put every recorded path back, in the reverse order of the records; pure
    except for reading the paths. Each action: ``action`` (remove, remove_tree, rmdir, write, symlink,
    backup, leave), ``path`` and its data; ``reason`` says why."""
    actions = []
    for entry in reversed(manifest["entries"]):
        path, kind, before = entry["path"], entry["kind"], entry["before"]
        now = read_state(root, path, content=kind == "file")
        if _digest(now) == _digest(before) or (before["type"] == "absent" and now["type"] == "absent"):
            continue
        if (before["type"] == "absent" and not entry.get("owned")
                and entry.get("written", {}).get("type") == "absent"):
            # The collection never put anything here: what is there now came later, from someone else.
            continue
        changed_since = (not entry.get("owned") and "written" in entry and now["type"] == "file"
                         and _digest(now) != entry["written"])
        if changed_since and entry.get("if_changed") == "leave":
            # The caller merges its own part back (the kubelet's owned keys).
            actions.append({"action": "leave", "path": path, "reason": "changed since the collection wrote it"})
            continue
        if changed_since:
            actions.append({"action": "backup", "path": path, "to": "%s.%s~" % (path, stamp),
                            "reason": "changed since the collection wrote it"})
        if kind == "tree":
            actions.append({"action": "remove_tree", "path": path, "reason": "the collection's own"})
        elif kind == "dir":
            if now["type"] == "dir":
                actions.append({"action": "rmdir", "path": path, "reason": "created for the collection's files"})
        elif before["type"] == "absent":
            if now["type"] == "dir":
                raise ManifestError("%s: the collection wrote a file here, now it is a directory; "
                                    "remove or move it, then run again" % path)
            actions.append({"action": "remove", "path": path, "reason": "absent before"})
        elif before["type"] == "symlink":
            actions.append({"action": "symlink", "path": path, "target": before["target"],
                            "reason": "a symlink before"})
        elif before["type"] == "file":
            actions.append({"action": "write", "path": path, "content": before["content"], "mode": before["mode"],
                            "uid": before["uid"], "gid": before["gid"], "reason": "its content before"})
    return actions


def _remove(full):
    if os.path.lexists(full):
        if os.path.isdir(full) and not os.path.islink(full):
            raise ManifestError("%s: is a directory" % full)
        os.unlink(full)


def apply_actions(actions, root):
    """Carry the actions out; returns notices (a directory left because it is not empty)."""
    notices = []
    for act in actions:
        full = _full(root, act["path"])
        if act["action"] == "leave":
            continue
        if act["action"] == "backup":
            shutil.copy2(full, _full(root, act["to"]))
        elif act["action"] == "remove":
            _remove(full)
        elif act["action"] == "remove_tree":
            if os.path.islink(full) or not os.path.isdir(full):
                _remove(full)
            else:
                shutil.rmtree(full)
        elif act["action"] == "rmdir":
            try:
                os.rmdir(full)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                notices.append("%s: left in place, it holds files the collection did not write" % act["path"])
        elif act["action"] == "symlink":
            _remove(full)
            os.symlink(act["target"], full)
        elif act["action"] == "write":
            parent = os.path.dirname(full)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            tmp = "%s.bot4-hft-tmp" % full
            with open(tmp, "wb") as handle:
                handle.write(base64.b64decode(act["content"]))
            os.chmod(tmp, int(act["mode"], 8))
            if os.geteuid() == 0:
                os.chown(tmp, act["uid"], act["gid"])
            if os.path.isdir(full) and not os.path.islink(full):
                os.unlink(tmp)
                raise ManifestError("%s: is a directory now" % act["path"])
            os.rename(tmp, full)
    return notices


def dump(manifest):
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def save(manifest, root, path):
    """Write the manifest atomically (0600: it holds copies of configuration files)."""
    full = _full(root, path)
    parent = os.path.dirname(full)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    tmp = full + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(dump(manifest))
    os.rename(tmp, full)
