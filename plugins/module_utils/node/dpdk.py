# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's sections dpdk: PCI devices bound to vfio-pci / uio_pci_generic through driver_override
(and given back to their kernel driver when no longer configured); every
check before the first write.
"""

from __future__ import annotations

import os
import re

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    check_keys,
)
from ansible_collections.bot4.hft.plugins.module_utils.topology import default_route_names, lower_devices


# ----------------------------------------------------------------------- dpdk
PCI_DEVICES = "/sys/bus/pci/devices"
PCI_DRIVERS = "/sys/bus/pci/drivers"
DRIVERS_PROBE = "/sys/bus/pci/drivers_probe"
IOMMU_GROUPS = "/sys/kernel/iommu_groups"
NOIOMMU_PARAM = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
DPDK_DRIVERS = ("vfio-pci", "uio_pci_generic")
DPDK_STATE_FILE = "dpdk-bindings.json"
# What may hold another device of a vfio-pci device's IOMMU group: no driver,
# vfio-pci itself, or a driver that does no DMA of its own (pci-stub, the PCIe
# port driver); PCI bridges are always allowed.
VFIO_GROUP_DRIVERS = ("vfio-pci", "pci-stub", "pcieport")
PCI_CLASS_BRIDGE = 0x0604
UNSET = "(null)"  # how driver_override reads when it is not set
NO_DRIVER = "(none)"

_PCI_ADDRESS_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_PCI_ID_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")


def _pci_dir(pci):
    return "%s/%s" % (PCI_DEVICES, pci)


def _hex4(text):
    text = (text or "").lower()
    if text.startswith("0x"):
        text = text[2:]
    return text.zfill(4) if text else "????"


def _pci_class(ctx, pci):
    text = ctx.read(_pci_dir(pci) + "/class")
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


def _pci_netdevs(ctx, pci):
    """Interface names of a PCI device (virtio-net puts its netdev one level down)."""
    base = _pci_dir(pci)
    names = list(ctx.listdir(base + "/net"))
    for sub in ctx.listdir(base):
        if sub.startswith("virtio"):
            names.extend(ctx.listdir("%s/%s/net" % (base, sub)))
    return sorted(names)


def _pci_device(ctx, pci):
    base = _pci_dir(pci)
    override = ctx.read(base + "/driver_override")
    numa = ctx.read_int(base + "/numa_node")
    group = ctx.link_name(base + "/iommu_group")
    return {
        "pci": pci,
        "id": "%s:%s" % (_hex4(ctx.read(base + "/vendor")), _hex4(ctx.read(base + "/device"))),
        "driver": ctx.link_name(base + "/driver"),
        "driver_override": None if override in (None, "", UNSET) else override,
        "has_driver_override": override is not None,
        "numa_node": numa if numa is not None and numa >= 0 else None,
        "iommu_group": int(group) if group and group.isdigit() else None,
        "netdevs": _pci_netdevs(ctx, pci),
    }


def _default_route_netdevs(ctx):
    """Interfaces that carry a default route, with every device below them
    (bond slaves, bridge ports, VLAN parents: their lower_* links)."""
    names = default_route_names(ctx.read("/proc/net/route") or "", ctx.read("/proc/net/ipv6_route") or "")
    return set(lower_devices(ctx.listdir, names))


def _vfio_group_problem(ctx, info, vfio_pcis):
    """Why vfio-pci could not use the device's IOMMU group, or None."""
    pci = info["pci"]
    if info["iommu_group"] is None:
        return ("%s: has no IOMMU group although the IOMMU is on (%s is not empty); vfio-pci cannot "
                "use it" % (pci, IOMMU_GROUPS))
    blockers = []
    for other in ctx.listdir(_pci_dir(pci) + "/iommu_group/devices"):
        if other == pci or other in vfio_pcis:
            continue
        driver = ctx.link_name("%s/driver" % _pci_dir(other))
        if driver is None or driver in VFIO_GROUP_DRIVERS:
            continue
        pci_class = _pci_class(ctx, other)
        if pci_class is not None and pci_class >> 8 == PCI_CLASS_BRIDGE:
            continue
        blockers.append("%s (bound to %s)" % (other, driver))
    if blockers:
        return ("%s: IOMMU group %d is not viable for vfio-pci: it also holds %s; every endpoint of a "
                "group must be bound to vfio-pci or to no driver (bind them too, or move the card)"
                % (pci, info["iommu_group"], ", ".join(blockers)))
    return None


def _dpdk_config(cfg):
    check_keys(cfg, "dpdk", ("devices", "noiommu"))
    raw = cfg.get("devices", [])
    if not isinstance(raw, list):
        raise ConfigError("dpdk.devices must be a list of {pci, driver}")
    noiommu = cfg.get("noiommu", False)
    if not isinstance(noiommu, bool):
        raise ConfigError("dpdk.noiommu must be true or false")
    drivers = DPDK_DRIVERS + ("kernel",)
    devices = []
    seen = set()
    for index, dev in enumerate(raw):
        where = "dpdk.devices[%d]" % index
        check_keys(dev, where, ("pci", "driver", "id"))
        pci = dev.get("pci")
        if not isinstance(pci, str) or not _PCI_ADDRESS_RE.match(pci):
            raise ConfigError("%s.pci must be a PCI address with its domain, in lower case, such as "
                              "0000:81:00.0 (got %r)" % (where, pci))
        if dev.get("driver") not in drivers:
            raise ConfigError("%s.driver must be one of %s (got %r)" % (where, ", ".join(drivers), dev.get("driver")))
        ident = dev.get("id")
        if ident is not None and (not isinstance(ident, str) or not _PCI_ID_RE.match(ident)):
            raise ConfigError('%s.id must be a "vendor:device" PCI id such as 8086:10d3 (got %r)' % (where, ident))
        if pci in seen:
            raise ConfigError("%s: %s is listed twice" % (where, pci))
        seen.add(pci)
        devices.append({"pci": pci, "driver": dev["driver"], "id": ident})
    return devices, noiommu


def _load_dpdk_state(ctx):
    """{pci: {driver, original_driver}} bound by this program during this boot."""
    devices = ctx.load_state(DPDK_STATE_FILE, "devices")
    if not isinstance(devices, dict):
        return {}
    return dict((pci, entry) for pci, entry in devices.items()
                if _PCI_ADDRESS_RE.match(pci) and isinstance(entry, dict))


def _set_override(sec, pci, before, value):
    """driver_override := value ("" clears it; it then reads "(null)")."""
    path = _pci_dir(pci) + "/driver_override"
    after = value or UNSET
    if sec.ctx.check:
        sec.change(path, before or UNSET, after)
        return True
    try:
        sec.ctx.write(path, value)
    except (IOError, OSError) as exc:
        sec.error("%s: writing %r failed: %s" % (path, value, os.strerror(exc.errno or 0)))
        return False
    now = sec.ctx.read(path)
    if (now or UNSET) != after:
        sec.error("%s: wrote %r but it reads %r" % (path, value, now))
        return False
    sec.change(path, before or UNSET, now)
    return True


def _reprobe(ctx, pci, keep=None):
    """Unbind the device from its driver (unless that is ``keep``) and let the
    PCI core probe it again; returns the name of the driver it then has."""
    link = _pci_dir(pci) + "/driver"
    current = ctx.link_name(link)
    if current and current != keep:
        ctx.write("%s/%s/unbind" % (PCI_DRIVERS, current), pci)
    ctx.write(DRIVERS_PROBE, pci)
    return ctx.link_name(link)


def _bind(sec, info, target):
    """Bind to ``target``; on failure hand the device back to the kernel. True when bound."""
    ctx = sec.ctx
    pci = info["pci"]
    link = _pci_dir(pci) + "/driver"
    before = info["driver"] or NO_DRIVER
    if ctx.check:
        sec.change(link, before, target)
        return True
    try:
        # The driver is read again here: at boot, udev may have loaded the
        # device's kernel driver since the checks read it.
        now = _reprobe(ctx, pci, keep=target)
    except (IOError, OSError) as exc:
        sec.error("%s: rebinding from %s to %s failed: %s" % (pci, before, target, os.strerror(exc.errno or 0)))
    else:
        if now == target:
            sec.change(link, before, now)
            return True
        sec.error("%s: after drivers_probe it is %s, not %s (the kernel log says why: dmesg)"
                  % (pci, "bound to %s" % now if now else "bound to no driver", target))
    # Do not leave it half done: clear the override and let its own driver take it back.
    try:
        ctx.write(_pci_dir(pci) + "/driver_override", "")
        current = ctx.link_name(link)
        now = _reprobe(ctx, pci) if current is None or current in DPDK_DRIVERS else current
        sec.notice("%s: handed back to the kernel (driver now %s)" % (pci, now or NO_DRIVER))
    except (IOError, OSError) as exc:
        sec.error("%s: handing it back to the kernel failed too: %s" % (pci, os.strerror(exc.errno or 0)))
    return False


def _restore(sec, info, original):
    """Give a device back to its kernel driver. True when done."""
    ctx = sec.ctx
    pci = info["pci"]
    if info["driver_override"] is not None and not _set_override(sec, pci, info["driver_override"], ""):
        return False
    current = info["driver"]
    if current is not None and current not in DPDK_DRIVERS:
        return True  # already on a kernel driver
    link = _pci_dir(pci) + "/driver"
    before = current or NO_DRIVER
    if ctx.check:
        sec.change(link, before, original or NO_DRIVER)
        return True
    try:
        now = _reprobe(ctx, pci)
        if now is None and original and not ctx.exists("%s/%s" % (PCI_DRIVERS, original)):
            problem = ctx.modprobe(original)
            if problem:
                sec.notice("%s: modprobe %s: %s" % (pci, original, problem))
            now = _reprobe(ctx, pci)
    except (IOError, OSError) as exc:
        sec.error("%s: giving it back to %s failed: %s" % (pci, original or "the kernel", os.strerror(exc.errno or 0)))
        return False
    if now in DPDK_DRIVERS or (now is None and original):
        sec.error("%s: after drivers_probe it is %s, not back on a kernel driver (it was %s)"
                  % (pci, "bound to %s" % now if now else "bound to no driver", original))
        return False
    if now != current:
        sec.change(link, before, now or NO_DRIVER)
    if now is None:
        sec.notice("%s: no driver took it (it had none before it was bound)" % pci)
    elif original and now != original:
        sec.notice("%s: now bound to %s (it was %s before it was bound)" % (pci, now, original))
    return True


def _dpdk_entry(info, target):
    return {"pci": info["pci"], "id": info["id"], "target": target, "action": "none",
            "driver_before": info["driver"], "driver": info["driver"],
            "driver_override": info["driver_override"], "numa_node": info["numa_node"],
            "iommu_group": info["iommu_group"], "netdevs": info["netdevs"], "original_driver": None}


def section_dpdk(sec, cfg):
    ctx = sec.ctx
    devices, noiommu = _dpdk_config(cfg)
    state = _load_dpdk_state(ctx)
    new_state = dict(state)
    iommu_active = bool(ctx.listdir(IOMMU_GROUPS))
    configured = set(d["pci"] for d in devices if d["driver"] != "kernel")
    vfio_pcis = set(d["pci"] for d in devices if d["driver"] == "vfio-pci")
    route = None
    report = {}
    to_bind = []
    to_restore = []

    # 1. Every check, before anything is written.
    for dev in devices:
        pci, target = dev["pci"], dev["driver"]
        base = _pci_dir(pci)
        if not ctx.exists(base):
            sec.error("%s: no such PCI device (%s does not exist)" % (pci, base))
            continue
        info = _pci_device(ctx, pci)
        entry = report[pci] = _dpdk_entry(info, target)
        if dev["id"] and info["id"] != dev["id"]:
            sec.error("%s: is a %s device, the configuration expects %s (did the hardware change?)"
                      % (pci, info["id"], dev["id"]))
            continue
        if target == "kernel":
            continue  # given back below if this program bound it
        if not info["has_driver_override"]:
            sec.error("%s: %s/driver_override is missing (the kernel is older than 3.16)" % (pci, base))
            continue
        if pci in state:
            entry["original_driver"] = state[pci].get("original_driver")
        elif info["driver"] not in DPDK_DRIVERS:
            entry["original_driver"] = info["driver"]
        problem = None
        if target == "vfio-pci" and iommu_active:
            problem = _vfio_group_problem(ctx, info, vfio_pcis)
        if info["driver"] == target:
            if problem:
                sec.notice(problem)
            # bound already (also when only driver_override is missing): ours from now on
            new_state[pci] = {"driver": target, "original_driver": entry["original_driver"]}
            if info["driver_override"] != target:
                entry["action"] = "bind"
                to_bind.append((info, target, entry))
            continue
        # Binding detaches the device from its driver: refuse what cannot work
        # or would cut the node off.
        if problem:
            sec.error(problem)
            continue
        if route is None:
            route = _default_route_netdevs(ctx)
        carrying = sorted(set(info["netdevs"]) & route)
        if carrying:
            sec.error("%s (%s) carries the default route: binding it to %s would cut this node off the "
                      "network" % (pci, ", ".join(carrying), target))
            continue
        if target == "vfio-pci" and not iommu_active and not noiommu:
            sec.error("%s: vfio-pci needs an IOMMU and the running kernel has none (%s is empty): boot "
                      "with the planned IOMMU arguments (intel_iommu=on iommu=pt), enable VT-d/AMD-Vi "
                      "in the firmware, or allow vfio's unsafe no-IOMMU mode (noiommu)" % (pci, IOMMU_GROUPS))
            continue
        entry["action"] = "bind"
        to_bind.append((info, target, entry))
    for pci in sorted(state):
        if pci in configured:
            continue
        new_state.pop(pci, None)
        if not ctx.exists(_pci_dir(pci)):
            sec.notice("%s: bound to %s earlier, now gone from the PCI bus; forgotten"
                       % (pci, state[pci].get("driver")))
            continue
        info = _pci_device(ctx, pci)
        original = state[pci].get("original_driver")
        entry = report.get(pci) or report.setdefault(pci, _dpdk_entry(info, "kernel"))
        entry["original_driver"] = original
        back = info["driver_override"] is None and (
            (info["driver"] is not None and info["driver"] not in DPDK_DRIVERS)
            or (info["driver"] is None and original is None))
        if not back:
            entry["action"] = "restore"
            to_restore.append((info, original, entry))

    sec.data["devices"] = [report[pci] for pci in sorted(report)]
    sec.data["iommu"] = "active" if iommu_active else ("noiommu" if noiommu else "none")
    if sec.errors:
        sec.notice("nothing was changed: every device is checked before the first one is bound")
        return

    # 2. The drivers' modules, and vfio's no-IOMMU mode where there is no IOMMU.
    for driver in sorted(set(t for info, t, _ in to_bind if info["driver"] != t)):
        path = "%s/%s" % (PCI_DRIVERS, driver)
        if ctx.exists(path):
            continue
        if not ctx.check:
            problem = ctx.modprobe(driver)
            if problem is None and not ctx.exists(path):
                problem = "modprobe %s succeeded but %s did not appear" % (driver, path)
            if problem:
                sec.error("cannot load the %s driver: %s" % (driver, problem))
                return
        sec.change(path, "(not loaded)", "modprobe %s" % driver)
    if noiommu and not iommu_active and any(t == "vfio-pci" and i["driver"] != t for i, t, _ in to_bind):
        current = ctx.read(NOIOMMU_PARAM)
        if current is None and not ctx.check:
            sec.error("%s is missing: this kernel's vfio has no unsafe no-IOMMU mode (CONFIG_VFIO_NOIOMMU)"
                      % NOIOMMU_PARAM)
            return
        if current != "Y" and not sec.set_value(NOIOMMU_PARAM, current or "N", "Y"):
            return
        sec.notice("vfio runs in unsafe no-IOMMU mode: the devices bound to vfio-pci get no DMA isolation")

    # 3. Bind, then give back what is no longer configured; stop at the first failure.
    for info, target, entry in to_bind:
        pci = info["pci"]
        ok = info["driver_override"] == target or _set_override(sec, pci, info["driver_override"], target)
        if ok and info["driver"] != target:
            ok = _bind(sec, info, target)
        if not ctx.check:
            entry["driver"] = ctx.link_name(_pci_dir(pci) + "/driver")
            entry["driver_override"] = _pci_device(ctx, pci)["driver_override"]
        if not ok:
            break
        new_state[pci] = {"driver": target, "original_driver": entry["original_driver"]}
    else:
        for info, original, entry in to_restore:
            pci = info["pci"]
            ok = _restore(sec, info, original)
            if not ctx.check:
                entry["driver"] = ctx.link_name(_pci_dir(pci) + "/driver")
                entry["driver_override"] = _pci_device(ctx, pci)["driver_override"]
            if not ok:
                new_state[pci] = state[pci]  # still this program's to give back
                break
    if not ctx.check and new_state != state:
        problem = ctx.save_state(DPDK_STATE_FILE, "devices", new_state)
        if problem:
            sec.error(problem)
