# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A lab cluster's CAs, certificates and kubeconfigs, made with the openssl CLI."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

from .common import SERVICE_IP, VM_HOST_ADDRESS, ClusterError


class Pki:
    """The lab's CAs and certificates, made with the openssl CLI."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not shutil.which("openssl"):
            raise ClusterError("openssl not found (apt-get install openssl)")

    def path(self, name: str, ext: str) -> Path:
        return self.dir / f"{name}.{ext}"

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"openssl {args[0]} failed: {proc.stderr.strip()}")

    def key(self, name: str) -> Path:
        key = self.path(name, "key")
        if not key.exists():
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-out", str(key))
            os.chmod(key, 0o600)
        return key

    def ca(self, name: str, common_name: str) -> None:
        cnf = self.path(name, "cnf")
        cnf.write_text(
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = " + common_name + "\n"
            "[v3_ca]\nbasicConstraints = critical, CA:TRUE\n"
            "keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n"
            "subjectKeyIdentifier = hash\n")
        self._openssl("req", "-x509", "-new", "-key", str(self.key(name)), "-sha256",
                      "-days", "3650", "-config", str(cnf), "-extensions", "v3_ca",
                      "-set_serial", str(secrets.randbits(63)), "-out", str(self.path(name, "crt")))

    def cert(self, name: str, ca: str, cn: str, org: str | None = None,
             server: bool = False, client: bool = False,
             dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        usages = (["serverAuth"] if server else []) + (["clientAuth"] if client else [])
        cnf = self.path(name, "cnf")
        dn = (f"O = {org}\n" if org else "") + f"CN = {cn}\n"
        ext = ("basicConstraints = critical, CA:FALSE\n"
               "keyUsage = critical, digitalSignature\n"
               f"extendedKeyUsage = {', '.join(usages)}\n"
               "authorityKeyIdentifier = keyid\n")
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        if sans:
            ext += f"subjectAltName = {', '.join(sans)}\n"
        cnf.write_text(f"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n{dn}[v3]\n{ext}")
        csr = self.path(name, "csr")
        self._openssl("req", "-new", "-key", str(self.key(name)), "-config", str(cnf),
                      "-out", str(csr))
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(self.path(ca, "crt")),
                      "-CAkey", str(self.path(ca, "key")), "-set_serial", str(secrets.randbits(63)),
                      "-days", "365", "-sha256", "-extfile", str(cnf), "-extensions", "v3",
                      "-out", str(self.path(name, "crt")))
        csr.unlink()

    def service_account_keys(self) -> None:
        self.key("sa")
        self._openssl("pkey", "-in", str(self.path("sa", "key")), "-pubout",
                      "-out", str(self.path("sa", "pub")))


def make_pki(pki: Pki, name: str) -> None:
    loopback = ("127.0.0.1",)
    pki.ca("ca", f"bot4-lab-{name}-ca")
    pki.ca("etcd-ca", f"bot4-lab-{name}-etcd-ca")
    pki.ca("front-proxy-ca", f"bot4-lab-{name}-front-proxy-ca")
    pki.cert("etcd-server", "etcd-ca", "etcd-server", server=True, client=True,
             dns=("localhost",), ips=loopback)
    pki.cert("etcd-peer", "etcd-ca", "etcd-peer", server=True, client=True,
             dns=("localhost",), ips=loopback)
    pki.cert("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", client=True)
    pki.cert("apiserver", "ca", "kube-apiserver", server=True,
             dns=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                  "kubernetes.default.svc.cluster.local", "localhost"),
             ips=("127.0.0.1", VM_HOST_ADDRESS, SERVICE_IP))
    pki.cert("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", client=True)
    pki.cert("front-proxy-client", "front-proxy-ca", "front-proxy-client", client=True)
    pki.cert("admin", "ca", "bot4-lab-admin", org="system:masters", client=True)
    pki.cert("controller-manager", "ca", "system:kube-controller-manager", client=True)
    pki.cert("scheduler", "ca", "system:kube-scheduler", client=True)
    pki.cert("kwok", "ca", "bot4-lab-kwok", org="bot4-lab:kwok", client=True)
    pki.service_account_keys()


def write_kubeconfig(path: Path, cluster: str, server: str, pki: Pki, user: str) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": b64(pki.path("ca", "crt"))}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(pki.path(user, "crt")),
            "client-key-data": b64(pki.path(user, "key"))}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chmod(path, 0o600)
