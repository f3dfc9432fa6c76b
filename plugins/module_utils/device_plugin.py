# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DPDK device plugin's configuration from the node plans.

Pure functions (no I/O). The node plan decides which NICs are bound to
vfio-pci (``plan.dpdk.devices``: ``pci``, ``vendor_device``,
``target_driver``); the cluster side hands exactly those NICs to pods through
the SR-IOV network device plugin. Its ``config.json`` lists resources
(``resourceName``, ``resourcePrefix``) and the selectors that pick their
devices on each node: ``vendors``, ``devices``, ``pciAddresses`` (every
non-empty list must match) and ``drivers: [vfio-pci]``.

The k8s/ tree names the resource (k8s/components/dpdk/config.json, and the
engine's request beside it); ``narrow`` keeps that name and replaces its
selectors with the plans' devices, so the plugin advertises the NICs the
plans bound and nothing else, whatever else a node has bound to vfio-pci.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Dict, Iterable, List, Tuple

VFIO = "vfio-pci"
# Where the SR-IOV network device plugin reads its config.json.
CONFIG_DIR = "/etc/pcidp"
CONFIG_KEY = "config.json"
# On the DaemonSet's pod template: the config's digest, so that a change of
# the devices rolls the plugin (it reads its config once, at start).
CONFIG_ANNOTATION = "hft.bot4.io/device-plugin-config-sha256"


def selector(devices: Iterable[Dict[str, Any]]) -> Dict[str, List[str]]:
    """The selector object for the plans' vfio-pci devices (from any number of nodes).

    Devices with another target driver (uio_pci_generic, kernel) are left
    out: they are no VFIO devices. Raises ValueError when none is left.
    """
    vendors, ids, addresses = set(), set(), set()
    for dev in devices:
        missing = [k for k in ("pci", "vendor_device", "target_driver") if not dev.get(k)]
        if missing:
            raise ValueError("a plan device lacks %s: %s" % (", ".join(missing), json.dumps(dev, sort_keys=True)))
        if dev["target_driver"] != VFIO:
            continue
        vendor, _sep, device = str(dev["vendor_device"]).partition(":")
        if not vendor or not device:
            raise ValueError("vendor_device %r of %s is not <vendor>:<device>" % (dev["vendor_device"], dev["pci"]))
        vendors.add(vendor.lower())
        ids.add(device.lower())
        addresses.add(str(dev["pci"]).lower())
    if not addresses:
        raise ValueError("no device of the node plans is bound to %s" % VFIO)
    return {"vendors": sorted(vendors), "devices": sorted(ids), "pciAddresses": sorted(addresses), "drivers": [VFIO]}


def config_json(config: Dict[str, Any]) -> str:
    """config.json as the ConfigMap carries it (stable key order)."""
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def _plugin_config_maps(manifests: List[Dict[str, Any]]) -> List[Tuple[Dict[str, Any], str]]:
    """(DaemonSet, ConfigMap name) for every DaemonSet that mounts a ConfigMap at CONFIG_DIR."""
    found = []
    for doc in manifests:
        if doc.get("kind") != "DaemonSet":
            continue
        pod = doc["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("containers", []):
            for mount in container.get("volumeMounts", []):
                volume = volumes.get(mount["name"], {})
                if mount.get("mountPath", "").rstrip("/") == CONFIG_DIR and "configMap" in volume:
                    found.append((doc, volume["configMap"]["name"]))
    return found


def narrow(manifests: List[Dict[str, Any]], devices: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rendered manifests with the device plugin's config narrowed to the plans' devices.

    ``devices``: plan.dpdk.devices entries of the node group's plans. Empty:
    the manifests come back unchanged (no plan in this run: the rendered
    config, which selects by driver, stays). A render without the device
    plugin comes back unchanged too. The plugin's ConfigMap must define
    exactly one resource; its name and prefix stay as rendered.
    """
    out = copy.deepcopy(manifests)
    if not devices:
        return out
    plugins = _plugin_config_maps(out)
    if not plugins:
        return out
    sel = selector(devices)
    for daemonset, name in plugins:
        namespace = daemonset["metadata"].get("namespace")
        maps = [d for d in out if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name
                and d["metadata"].get("namespace") == namespace]
        if len(maps) != 1:
            raise ValueError("DaemonSet %s mounts ConfigMap %s at %s, which the render does not contain"
                             % (daemonset["metadata"]["name"], name, CONFIG_DIR))
        cm = maps[0]
        try:
            config = json.loads(cm.get("data", {})[CONFIG_KEY])
        except (KeyError, ValueError) as exc:
            raise ValueError("ConfigMap %s: no valid %s (%s)" % (name, CONFIG_KEY, exc))
        resources = config.get("resourceList") or []
        if len(resources) != 1:
            raise ValueError("ConfigMap %s: %s must define exactly one resource for the DPDK NICs, it defines %d"
                             % (name, CONFIG_KEY, len(resources)))
        resources[0]["selectors"] = copy.deepcopy(sel)
        text = config_json(config)
        cm["data"][CONFIG_KEY] = text
        template_meta = daemonset["spec"]["template"].setdefault("metadata", {})
        template_meta.setdefault("annotations", {})[CONFIG_ANNOTATION] = hashlib.sha256(text.encode()).hexdigest()
    return out
