"""clusterctl's pure parts (lab/bot4lab/cluster): no cluster, no Go build."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from bot4lab.cluster.build import KUBE_MODULE, NODE_PACKAGES, BuildSpec, go_output_name, kube_spec
from bot4lab.cluster.common import CLUSTER_DIR, ClusterError
from bot4lab.cluster.images import IMAGE_ARCHIVES, write_oci_archive
from bot4lab.cluster.join import NODE_LABELS, cni_conflist, kubelet_config, kubelet_flags, node_payload, payload_digest
from bot4lab.cluster.kwok import fleet_nodes
from bot4lab.cluster.pki import Pki, make_pki
from bot4lab.cluster.state import Lab
from bot4lab.common import pid_alive, processes_referencing


def test_go_output_name():
    assert go_output_name("k8s.io/kubernetes/cmd/kubelet") == "kubelet"
    assert go_output_name("go.etcd.io/etcd/server/v3") == "server"


def test_kube_spec_stamps_the_required_version():
    spec = kube_spec()
    gomod = (KUBE_MODULE / "go.mod").read_text()
    assert f"k8s.io/kubernetes {spec.version}" in gomod
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion={spec.version}" in spec.ldflags
    assert "-trimpath" in spec.flags()
    # every staging module is replaced by its published release
    minor = spec.version.split(".")[1]
    replaced = [line for line in gomod.splitlines() if "=> k8s.io/" in line]
    assert len(replaced) >= 30
    assert all(line.strip().endswith(f"v0.{minor}.{spec.version.split('.')[2]}")
               for line in replaced)


def test_build_key_follows_inputs(tmp_path):
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("a\n")
    spec = BuildSpec("t", tmp_path, "v1", {"x": "x"}, "-s")
    key = spec.key("go1.26")
    assert key.startswith("v1-") and key == spec.key("go1.26")
    assert spec.key("go1.27") != key
    (tmp_path / "go.sum").write_text("b\n")
    changed = spec.key("go1.26")
    assert changed != key
    spec.ldflags = "-s -w"
    assert spec.key("go1.26") != changed


def test_fleet_nodes():
    nodes = fleet_nodes(3, "v1.37.2")
    assert [n["metadata"]["name"] for n in nodes] == [
        "kwok-trading-0", "kwok-trading-1", "kwok-trading-2"]
    zones = [n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes]
    assert zones == ["lab-a", "lab-b", "lab-a"]
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert node["status"]["allocatable"]["hugepages-1Gi"] == "8Gi"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert len({n["status"]["addresses"][0]["address"] for n in nodes}) == 3


def openssl_text(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(path)],
                          capture_output=True, text=True, check=True).stdout


def test_pki(tmp_path):
    pki = Pki(tmp_path / "pki")
    make_pki(pki, "unit")
    for leaf, ca in (("apiserver", "ca"), ("admin", "ca"), ("etcd-server", "etcd-ca"),
                     ("apiserver-etcd-client", "etcd-ca"),
                     ("front-proxy-client", "front-proxy-ca")):
        subprocess.run(["openssl", "verify", "-CAfile", str(pki.path(ca, "crt")),
                        str(pki.path(leaf, "crt"))], check=True, capture_output=True)
    apiserver = openssl_text(pki.path("apiserver", "crt"))
    for san in ("IP Address:10.0.2.2", "IP Address:127.0.0.1", "IP Address:10.96.0.1",
                "DNS:kubernetes.default.svc.cluster.local"):
        assert san in apiserver
    assert "TLS Web Server Authentication" in apiserver
    admin = openssl_text(pki.path("admin", "crt"))
    assert "O = system:masters" in admin and "TLS Web Client Authentication" in admin
    # etcd trusts only its own CA: a cluster-CA client certificate is not valid for it
    wrong = subprocess.run(["openssl", "verify", "-CAfile", str(pki.path("etcd-ca", "crt")),
                            str(pki.path("admin", "crt"))], capture_output=True, check=False)
    assert wrong.returncode != 0
    assert oct(pki.path("ca", "key").stat().st_mode & 0o777) == "0o600"
    assert pki.path("sa", "pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_oci_archive_layout(tmp_path):
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF fake")
    archive = tmp_path / "app.tar"
    write_oci_archive(archive, "localhost/bot4/app:v1", {"app": binary}, ["/app"])
    check_oci_archive(archive, "localhost/bot4/app:v1", {"app"})


def check_oci_archive(archive: Path, ref: str, files: set[str]) -> None:
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in members.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(members["index.json"])
    (desc,) = index["manifests"]
    assert desc["annotations"]["io.containerd.image.name"] == ref
    manifest = json.loads(members["blobs/sha256/" + desc["digest"].split(":")[1]])
    config = json.loads(members["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    (layer,) = manifest["layers"]
    import gzip
    import io
    raw = gzip.decompress(members["blobs/sha256/" + layer["digest"].split(":")[1]])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer_tar:
        assert {m.name for m in layer_tar.getmembers()} == files


@pytest.mark.parametrize("name", ["", "UPPER", "-x", "a" * 40, "a_b"])
def test_invalid_cluster_names(name):
    with pytest.raises(ClusterError):
        Lab(name)


IGNORE_TERM = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               "time.sleep(300)")


def test_stop_all_kills_stubborn_and_stray_processes(tmp_path, monkeypatch):
    """SIGTERM first, SIGKILL after the grace period, and processes of the lab
    that lost their pidfile are found through their command line."""
    import subprocess
    import sys

    monkeypatch.setenv("BOT4_LAB_DIR", str(tmp_path))
    lab = Lab("unit-stop")
    lab.dir.mkdir(parents=True)
    lab.start("etcd", [sys.executable, "-c", IGNORE_TERM, str(lab.dir / "data")])
    stray = subprocess.Popen([sys.executable, "-c", IGNORE_TERM, str(lab.dir / "stray")],
                             start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", IGNORE_TERM, str(lab.dir) + "-other/x"])
    try:
        pid = lab.read_pid("etcd")[0]
        assert lab.alive("etcd")
        assert set(processes_referencing(lab.dir)) == {pid, stray.pid}
        assert lab.stop_all(grace=0.3) == []
        stray.wait(timeout=5)
        assert not pid_alive(pid)
        assert not lab.pidfile("etcd").exists()
        # a lab whose name merely starts with the same characters is not touched
        assert other.poll() is None
    finally:
        for proc in (stray, other):
            proc.kill()
            proc.wait()


def test_joined_node_is_a_dedicated_but_untuned_trading_node():
    fleet = yaml.safe_load((CLUSTER_DIR / "fleet.yaml").read_text())
    config = kubelet_config()
    assert config["kind"] == "KubeletConfiguration" and config["cgroupDriver"] == "systemd"
    # The same taint as the kwok fleet; the tuned label is the tuning pipeline's to set.
    assert config["registerWithTaints"] == fleet["taints"]
    assert "hft.bot4.io/tuned" not in NODE_LABELS
    flags = kubelet_flags("lab-node-1", "10.0.2.15")
    assert "--hostname-override=lab-node-1 " in flags and "--node-ip=10.0.2.15 " in flags
    assert "hft.bot4.io/node-group=trading" in flags
    # CPU/memory/topology managers are left to the kubelet role.
    assert not {k for k in config if "Manager" in k or "topology" in k.lower()}


def test_cni_conflist_uses_the_nodes_pod_cidr():
    conf = cni_conflist("10.244.3.0/24")
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.3.0/24"}]]


def test_node_payload_and_its_digest(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("kubelet.kubeconfig", "ca.crt", "kubelet.crt", "kubelet.key"):
        (creds / name).write_text(name)
    binaries = tmp_path / "bin"
    binaries.mkdir()
    for name in ["kubelet", *NODE_PACKAGES, *IMAGE_ARCHIVES,
                 "runc.deb"]:
        (binaries / name).write_text(name)
    files = node_payload("n1", "10.0.2.15", creds, {"kubelet": binaries / "kubelet"},
                         binaries, binaries, binaries / "runc.deb")
    assert files["/etc/kubernetes/kubelet.conf"][1] == 0o600
    assert files["/var/lib/kubelet/pki/kubelet.key"][1] == 0o600
    assert yaml.safe_load(files["/var/lib/kubelet/config.yaml"][0])["cgroupDriver"] == "systemd"
    assert b"SystemdCgroup = true" in files["/etc/containerd/config.toml"][0]
    for path in ("/usr/local/bin/kubelet", "/usr/local/bin/containerd", "/opt/cni/bin/bridge",
                 "/opt/cni/bin/host-local", "/usr/local/bin/ctr"):
        assert files[path][1] == 0o755 and isinstance(files[path][0], Path)
    digest = payload_digest(files)
    assert digest == payload_digest(files)
    (binaries / "containerd").write_text("another build")
    assert payload_digest(files) != digest
