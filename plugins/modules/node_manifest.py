#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_manifest
short_description: Record what bot4.hft writes on a node, and put it back
version_added: "0.1.0"
description:
  - Keeps the node's manifest (C(/var/lib/bot4-hft/manifest.json)) of every path the collection writes and what was
    there before it (absent, a file with its content, mode and owner, a symlink, a directory), with the kernel
    arguments the node ran before its first tuning.
  - O(state=recorded), before a role writes. The first record of a path wins. Missing parent directories are
    recorded as absent too.
  - O(state=written), at the end of a complete tuning run, records O(paths) as O(state=recorded) does, then keeps
    a digest of what each recorded path holds.
  - O(state=restored), for untune, puts back every recorded path in the reverse order of the records and removes
    the manifest. A shared file that was changed after the collection wrote it is copied aside first
    (C(<path>.<time>~)). Every path is checked before anything is written.
author:
  - Bot4 platform team (@bot4-platform)
options:
  state:
    description: What to do with the manifest.
    type: str
    choices: [recorded, written, restored]
    default: recorded
  paths:
    description:
      - The paths a role is about to write (O(state=recorded) and O(state=written)).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute, normalised path.
        type: path
        required: true
      owned:
        description:
          - The name belongs to the collection (for example C(/etc/sysctl.d/90-bot4-hft.conf)), so whatever is
            there is the collection's own, and its earlier state is absent even when a release without a manifest
            wrote it.
        type: bool
        default: false
      tree:
        description: An owned directory that untune removes as a whole.
        type: bool
        default: false
      if_changed:
        description:
          - What O(state=restored) does with a shared file changed since the collection wrote it.
          - V(backup) copies it aside (C(<path>.<time>~)) and puts the recorded content back.
          - V(leave) leaves it as it is and returns it in RV(left), for a caller that merges its own part back
            (the kubelet's owned settings).
        type: str
        choices: [backup, leave]
        default: backup
  manifest:
    description: The manifest file. Its directory is recorded as an owned tree by the first record.
    type: path
    default: /var/lib/bot4-hft/manifest.json
  root:
    description: Directory where the node's root filesystem is seen; for tests.
    type: path
    default: /
attributes:
  check_mode:
    support: full
    description: Reports what would be recorded or put back and writes nothing.
  diff_mode:
    support: full
    description: The paths recorded, or the paths put back with the action for each.
seealso:
  - module: bot4.hft.node_state
"""

EXAMPLES = r"""
- name: Record what this role replaces
  bot4.hft.node_manifest:
    paths:
      - path: /etc/sysctl.d/90-bot4-hft.conf
        owned: true
      - path: /etc/default/irqbalance

- name: Put back everything the collection wrote
  bot4.hft.node_manifest:
    state: restored
  register: __hft_register_restore
"""

RETURN = r"""
recorded:
  description: The paths added to the manifest (O(state=recorded)).
  returned: always
  type: list
  elements: str
actions:
  description:
    - What O(state=restored) did or would do, in order. C(action) (C(remove), C(remove_tree), C(rmdir), C(write),
      C(symlink), C(backup)), C(path) and C(reason).
  returned: always
  type: list
  elements: dict
paths:
  description: Every path the manifest holds, in the order of the records.
  returned: always
  type: list
  elements: str
left:
  description: The recorded files O(state=restored) left as they are (O(paths[].if_changed=leave)).
  returned: always
  type: list
  elements: str
cmdline:
  description:
    - The kernel arguments the node ran at its first record, or null when a release without a manifest had
      tuned the node already (they are then not the ones from before).
  returned: when a manifest exists
  type: str
entries:
  description: How many paths the manifest holds.
  returned: always
  type: int
"""

import errno
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils import manifest as nm


def _read_manifest(module, root, path):
    full = os.path.join(root, path.lstrip("/"))
    try:
        with open(full) as handle:
            text = handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        module.fail_json(msg="manifest: cannot read %s (%s)" % (path, exc))
    try:
        return nm.load(text, path)
    except nm.ManifestError as exc:
        module.fail_json(msg="manifest: %s" % exc)


def _cmdline(root):
    try:
        with open(os.path.join(root, "proc/cmdline")) as handle:
            return handle.read().strip()
    except IOError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["recorded", "written", "restored"], default="recorded"),
            paths=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                owned=dict(type="bool", default=False),
                tree=dict(type="bool", default=False),
                if_changed=dict(type="str", choices=["backup", "leave"], default="backup"),
            )),
            manifest=dict(type="path", default=nm.DEFAULT_MANIFEST),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root, path = params["root"], params["manifest"]
    try:
        nm.check_path(path)
        current = _read_manifest(module, root, path)
        result = {"changed": False, "recorded": [], "actions": [], "left": [],
                  "paths": [entry["path"] for entry in current["entries"]] if current else [],
                  "entries": len(current["entries"]) if current else 0}
        if current is not None:
            result["cmdline"] = current["cmdline"] if current.get("cmdline_untouched") else None

        if params["state"] in ("recorded", "written"):
            if current is None and params["state"] == "written" and not params["paths"]:
                module.fail_json(msg="manifest: %s does not exist; nothing was recorded on this node" % path)
            updated, added = nm.record(current, root, params["paths"], _cmdline(root), os.path.dirname(path))
            result.update(recorded=added, changed=bool(added), entries=len(updated["entries"]),
                          paths=[entry["path"] for entry in updated["entries"]])
            if current is None:
                result["cmdline"] = updated["cmdline"] if updated["cmdline_untouched"] else None
            if params["state"] == "written":
                # Bookkeeping (not a change of the node): what each path holds now.
                updated = nm.written(updated, root)
            if updated != current and not module.check_mode:
                nm.save(updated, root, path)
            if module._diff and added:
                result["diff"] = {"before": "", "after": "".join("recorded %s\n" % p for p in added)}
        else:
            if current is None:
                module.fail_json(msg="manifest: %s does not exist, so there is no record of what the collection "
                                     "wrote on this node; run playbooks/tune_nodes.yml once with this release "
                                     "(it records the node without changing it), then untune" % path)
            stamp = time.strftime("%Y-%m-%d@%H:%M:%S")
            actions = nm.restore_actions(current, root, stamp)
            result["left"] = [a["path"] for a in actions if a["action"] == "leave"]
            result.update(changed=any(a["action"] != "leave" for a in actions), actions=[
                {key: value for key, value in act.items() if key != "content"} for act in actions])
            if module._diff and actions:
                result["diff"] = {"before": "".join("%s\n" % a["path"] for a in actions),
                                  "after": "".join("%s: %s (%s)\n" % (a["action"], a["path"], a["reason"])
                                                   for a in actions)}
            if not module.check_mode:
                for notice in nm.apply_actions(actions, root):
                    module.warn(notice)
                if os.path.lexists(os.path.join(root, path.lstrip("/"))):
                    os.unlink(os.path.join(root, path.lstrip("/")))
    except nm.ManifestError as exc:
        module.fail_json(msg="manifest: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
