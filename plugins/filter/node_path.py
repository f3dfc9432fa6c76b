# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Where a node's absolute path is seen from the controller's modules: the one
place that joins hft_node_root and a path (documentation in node_path.yml)."""

from __future__ import annotations

import posixpath

from ansible.errors import AnsibleFilterError


def node_path(path, root="/"):
    """'/etc/x' below '/' -> '/etc/x'; below '/srv/n1' -> '/srv/n1/etc/x'."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise AnsibleFilterError("node_path: the path must be absolute, got %r" % (path,))
    if not isinstance(root, str) or not root.startswith("/"):
        raise AnsibleFilterError("node_path: hft_node_root must be an absolute directory, got %r" % (root,))
    if root.rstrip("/") == "":
        return path
    return posixpath.join(root.rstrip("/"), path.lstrip("/"))


class FilterModule(object):
    def filters(self):
        return {"node_path": node_path}
