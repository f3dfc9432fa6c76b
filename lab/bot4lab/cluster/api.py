# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Talking to a lab cluster: a small HTTPS client and the built kubectl."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from .common import ClusterError
from .state import Lab


class Api:
    """A tiny HTTPS client for health checks and polling, proxy-free."""

    def __init__(self, base: str, ca: Path | None, cert: Path | None = None,
                 key: Path | None = None):
        self.base = base.rstrip("/")
        if ca is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=str(ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=ctx))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, OSError, ssl.SSLError) as err:
            return 0, str(err).encode()

    def get_json(self, path: str) -> dict | None:
        status, body = self.get(path)
        if status != 200:
            return None
        return json.loads(body)


def kubectl(lab: Lab, bins: dict[str, Path], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([str(bins["kubectl"]), "--kubeconfig", str(lab.admin_kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def node_ready(node: dict) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
