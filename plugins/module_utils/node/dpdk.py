# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section dpdk: PCI devices bound to vfio-pci / uio_pci_generic through driver_override
(and given back to their kernel driver when no longer configured); every
check before the first write.

``read_dpdk`` reads the devices, their IOMMU groups, the default route and
this boot's record of what this program bound; ``decide_dpdk`` (pure) checks
everything and decides, in order: the drivers' modules, vfio's no-IOMMU
mode, then per device its driver_override (a ``set`` action of the writer)
and its rebinding, then the devices given back.  Rebinding and giving back
are this section's own steps, carried out by the writer of core.py with a
re-read of the device's driver between their writes (unbind the driver it
has now, drivers_probe, read back which driver took it): at boot, udev may
load a device's kernel driver at any time.  The first failure stops the rest.
"""

from __future__ import annotations

import os
import re

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    DONE,
    NOT_RUN,
    ConfigError,
    carry_out_decision,
    check_keys,
    message,
    set_action,
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


# ------------------------------------------------------------------- settings
def dpdk_settings(cfg):
    """devices: [{pci, driver, id}], noiommu."""
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
    return {"devices": devices, "noiommu": noiommu}


# ----------------------------------------------------------------------- read
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


def _override(text):
    return None if text in (None, "", UNSET) else text


def _pci_device(ctx, pci):
    """What the checks need of a device, None when it is not on the bus."""
    base = _pci_dir(pci)
    if not ctx.exists(base):
        return None
    override = ctx.read(base + "/driver_override")
    numa = ctx.read_int(base + "/numa_node")
    group = ctx.link_name(base + "/iommu_group")
    return {
        "pci": pci,
        "id": "%s:%s" % (_hex4(ctx.read(base + "/vendor")), _hex4(ctx.read(base + "/device"))),
        "driver": ctx.link_name(base + "/driver"),
        "driver_override": _override(override),
        "has_driver_override": override is not None,
        "numa_node": numa if numa is not None and numa >= 0 else None,
        "iommu_group": int(group) if group and group.isdigit() else None,
        "netdevs": _pci_netdevs(ctx, pci),
        # the other devices of its IOMMU group
        "group_devices": [{"pci": other, "driver": ctx.link_name("%s/driver" % _pci_dir(other)),
                           "class": _pci_class(ctx, other)}
                          for other in ctx.listdir(base + "/iommu_group/devices") if other != pci],
    }


def _load_dpdk_state(ctx):
    """{pci: {driver, original_driver}} bound by this program during this boot."""
    devices = ctx.load_state(DPDK_STATE_FILE, "devices")
    if not isinstance(devices, dict):
        return {}
    return dict((pci, entry) for pci, entry in devices.items()
                if _PCI_ADDRESS_RE.match(pci) and isinstance(entry, dict))


def read_dpdk(ctx, cfg):
    """state: this boot's record {pci: {driver, original_driver}}; devices:
    {pci: device (None: not on the bus)} of the configured and the recorded
    devices; iommu_active; route_netdevs: the interfaces that carry the
    default route and every device below them (bond slaves, bridge ports,
    VLAN parents); drivers_loaded: the DPDK drivers present."""
    state = _load_dpdk_state(ctx)
    pcis = sorted(set([dev["pci"] for dev in cfg["devices"]]) | set(state))
    names = default_route_names(ctx.read("/proc/net/route") or "", ctx.read("/proc/net/ipv6_route") or "")
    return {
        "state": state,
        "devices": dict((pci, _pci_device(ctx, pci)) for pci in pcis),
        "iommu_active": bool(ctx.listdir(IOMMU_GROUPS)),
        "route_netdevs": sorted(lower_devices(ctx.listdir, names)),
        "drivers_loaded": [driver for driver in DPDK_DRIVERS if ctx.exists("%s/%s" % (PCI_DRIVERS, driver))],
    }


# --------------------------------------------------------------------- decide
def _vfio_group_problem(info, vfio_pcis):
    """Why vfio-pci could not use the device's IOMMU group, or None."""
    pci = info["pci"]
    if info["iommu_group"] is None:
        return ("%s: has no IOMMU group although the IOMMU is on (%s is not empty); vfio-pci cannot "
                "use it" % (pci, IOMMU_GROUPS))
    blockers = []
    for other in info["group_devices"]:
        if other["pci"] in vfio_pcis or other["driver"] is None or other["driver"] in VFIO_GROUP_DRIVERS:
            continue
        if other["class"] is not None and other["class"] >> 8 == PCI_CLASS_BRIDGE:
            continue
        blockers.append("%s (bound to %s)" % (other["pci"], other["driver"]))
    if blockers:
        return ("%s: IOMMU group %d is not viable for vfio-pci: it also holds %s; every endpoint of a "
                "group must be bound to vfio-pci or to no driver (bind them too, or move the card)"
                % (pci, info["iommu_group"], ", ".join(blockers)))
    return None


def _dpdk_entry(info, target):
    return {"pci": info["pci"], "id": info["id"], "target": target, "action": "none",
            "driver_before": info["driver"], "driver": info["driver"],
            "driver_override": info["driver_override"], "numa_node": info["numa_node"],
            "iommu_group": info["iommu_group"], "netdevs": info["netdevs"], "original_driver": None}


def _override_action(pci, before, value):
    """driver_override := value ("" clears it; it then reads "(null)")."""
    action = set_action(_pci_dir(pci) + "/driver_override", before or UNSET, value or UNSET, pci=pci, stop=True)
    if not value:
        action["value"] = ""
    return action


def decide_dpdk(cfg, current):
    """actions; data: the devices' report and the IOMMU mode; state: this
    boot's record once the checks passed, before any binding; bound: the
    record of each device to bind, kept when its binding succeeds; checked:
    False when a check failed (nothing is to be written then)."""
    state = current["state"]
    new_state = dict(state)
    iommu_active = current["iommu_active"]
    configured = set(d["pci"] for d in cfg["devices"] if d["driver"] != "kernel")
    vfio_pcis = set(d["pci"] for d in cfg["devices"] if d["driver"] == "vfio-pci")
    route = set(current["route_netdevs"])
    report = {}
    checks = []
    to_bind = []
    to_restore = []

    # 1. Every check, before anything is written.
    for dev in cfg["devices"]:
        pci, target = dev["pci"], dev["driver"]
        info = current["devices"][pci]
        if info is None:
            checks.append(message("error", "%s: no such PCI device (%s does not exist)" % (pci, _pci_dir(pci))))
            continue
        entry = report[pci] = _dpdk_entry(info, target)
        if dev["id"] and info["id"] != dev["id"]:
            checks.append(message("error", "%s: is a %s device, the configuration expects %s (did the hardware "
                                           "change?)" % (pci, info["id"], dev["id"])))
            continue
        if target == "kernel":
            continue  # given back below if this program bound it
        if not info["has_driver_override"]:
            checks.append(message("error", "%s: %s/driver_override is missing (the kernel is older than 3.16)"
                                  % (pci, _pci_dir(pci))))
            continue
        if pci in state:
            entry["original_driver"] = state[pci].get("original_driver")
        elif info["driver"] not in DPDK_DRIVERS:
            entry["original_driver"] = info["driver"]
        problem = None
        if target == "vfio-pci" and iommu_active:
            problem = _vfio_group_problem(info, vfio_pcis)
        if info["driver"] == target:
            if problem:
                checks.append(message("notice", problem))
            # bound already (also when only driver_override is missing): ours from now on
            new_state[pci] = {"driver": target, "original_driver": entry["original_driver"]}
            if info["driver_override"] != target:
                entry["action"] = "bind"
                to_bind.append((info, target, entry))
            continue
        # Binding detaches the device from its driver: refuse what cannot work
        # or would cut the node off.
        if problem:
            checks.append(message("error", problem))
            continue
        carrying = sorted(set(info["netdevs"]) & route)
        if carrying:
            checks.append(message("error", "%s (%s) carries the default route: binding it to %s would cut this "
                                           "node off the network" % (pci, ", ".join(carrying), target)))
            continue
        if target == "vfio-pci" and not iommu_active and not cfg["noiommu"]:
            checks.append(message("error", "%s: vfio-pci needs an IOMMU and the running kernel has none (%s is "
                                           "empty): boot with the planned IOMMU arguments (intel_iommu=on iommu=pt), "
                                           "enable VT-d/AMD-Vi in the firmware, or allow vfio's unsafe no-IOMMU mode "
                                           "(noiommu)" % (pci, IOMMU_GROUPS)))
            continue
        entry["action"] = "bind"
        to_bind.append((info, target, entry))
    for pci in sorted(state):
        if pci in configured:
            continue
        new_state.pop(pci, None)
        info = current["devices"][pci]
        if info is None:
            checks.append(message("notice", "%s: bound to %s earlier, now gone from the PCI bus; forgotten"
                                  % (pci, state[pci].get("driver"))))
            continue
        original = state[pci].get("original_driver")
        entry = report.get(pci) or report.setdefault(pci, _dpdk_entry(info, "kernel"))
        entry["original_driver"] = original
        back = info["driver_override"] is None and (
            (info["driver"] is not None and info["driver"] not in DPDK_DRIVERS)
            or (info["driver"] is None and original is None))
        if not back:
            entry["action"] = "restore"
            to_restore.append((info, original, entry))

    data = {"devices": [report[pci] for pci in sorted(report)],
            "iommu": "active" if iommu_active else ("noiommu" if cfg["noiommu"] else "none")}
    decision = {"actions": checks, "data": data, "state": new_state, "bound": {}, "checked": True}
    if any(action["kind"] == "error" for action in checks):
        checks.append(message("notice", "nothing was changed: every device is checked before the first one is "
                                        "bound"))
        decision["checked"] = False
        return decision

    # 2. The drivers' modules, and vfio's no-IOMMU mode where there is no IOMMU.
    actions = decision["actions"]
    for driver in sorted(set(t for info, t, _unused in to_bind if info["driver"] != t)):
        if driver not in current["drivers_loaded"]:
            actions.append({"kind": "modprobe", "module": driver, "path": "%s/%s" % (PCI_DRIVERS, driver),
                            "stop": True})
    if cfg["noiommu"] and not iommu_active and any(t == "vfio-pci" and i["driver"] != t for i, t, _unused in to_bind):
        actions.append({"kind": "noiommu", "stop": True})

    # 3. Bind, then give back what is no longer configured; stop at the first failure.
    for info, target, entry in to_bind:
        pci = info["pci"]
        if info["driver_override"] != target:
            actions.append(_override_action(pci, info["driver_override"], target))
        if info["driver"] != target:
            actions.append({"kind": "bind", "pci": pci, "driver": info["driver"], "target": target, "stop": True})
        decision["bound"][pci] = {"driver": target, "original_driver": entry["original_driver"]}
    for info, original, entry in to_restore:
        pci = info["pci"]
        if info["driver_override"] is not None:
            actions.append(_override_action(pci, info["driver_override"], ""))
        if info["driver"] is None or info["driver"] in DPDK_DRIVERS:
            actions.append({"kind": "restore", "pci": pci, "driver": info["driver"], "original": original,
                            "stop": True})
    return decision


# ---------------------------------------------------------------------- steps
def _reprobe(sec, pci, keep=None):
    """Unbind the device from its driver (unless that is ``keep``) and let the
    PCI core probe it again; returns the name of the driver it then has."""
    link = _pci_dir(pci) + "/driver"
    current = sec.ctx.link_name(link)
    if current and current != keep:
        sec.write("%s/%s/unbind" % (PCI_DRIVERS, current), pci)
    sec.write(DRIVERS_PROBE, pci)
    return sec.ctx.link_name(link)


def _noiommu_step(sec, action):
    """vfio's unsafe no-IOMMU mode on; its parameter is read after the modules were loaded."""
    current = sec.ctx.read(NOIOMMU_PARAM)
    if current is None and not sec.ctx.check:
        sec.error("%s is missing: this kernel's vfio has no unsafe no-IOMMU mode (CONFIG_VFIO_NOIOMMU)"
                  % NOIOMMU_PARAM)
        return False
    if current != "Y" and sec.carry_out([set_action(NOIOMMU_PARAM, current or "N", "Y")]) != [DONE]:
        return False
    sec.notice("vfio runs in unsafe no-IOMMU mode: the devices bound to vfio-pci get no DMA isolation")
    return True


def _bind_step(sec, action):
    """Bind to ``target``; on failure hand the device back to the kernel. True when bound."""
    ctx = sec.ctx
    pci, target = action["pci"], action["target"]
    link = _pci_dir(pci) + "/driver"
    before = action["driver"] or NO_DRIVER
    if ctx.check:
        sec.change(link, before, target)
        return True
    try:
        # The driver is read again here: at boot, udev may have loaded the
        # device's kernel driver since the checks read it.
        now = _reprobe(sec, pci, keep=target)
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
        sec.write(_pci_dir(pci) + "/driver_override", "")
        current = ctx.link_name(link)
        now = _reprobe(sec, pci) if current is None or current in DPDK_DRIVERS else current
        sec.notice("%s: handed back to the kernel (driver now %s)" % (pci, now or NO_DRIVER))
    except (IOError, OSError) as exc:
        sec.error("%s: handing it back to the kernel failed too: %s" % (pci, os.strerror(exc.errno or 0)))
    return False


def _restore_step(sec, action):
    """Give a device back to its kernel driver. True when done."""
    ctx = sec.ctx
    pci, original, current = action["pci"], action["original"], action["driver"]
    link = _pci_dir(pci) + "/driver"
    before = current or NO_DRIVER
    if ctx.check:
        sec.change(link, before, original or NO_DRIVER)
        return True
    try:
        now = _reprobe(sec, pci)
        if now is None and original and not ctx.exists("%s/%s" % (PCI_DRIVERS, original)):
            problem = ctx.modprobe(original)
            if problem:
                sec.notice("%s: modprobe %s: %s" % (pci, original, problem))
            now = _reprobe(sec, pci)
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


STEPS = {"noiommu": _noiommu_step, "bind": _bind_step, "restore": _restore_step}


# -------------------------------------------------------------------- section
def section_dpdk(sec, cfg):
    ctx = sec.ctx
    cfg = dpdk_settings(cfg)
    current = read_dpdk(ctx, cfg)
    decision = decide_dpdk(cfg, current)
    outcomes = carry_out_decision(sec, decision, STEPS)
    if not decision["checked"]:
        return
    prepared = True
    results = {}
    for action, outcome in zip(decision["actions"], outcomes):
        if action["kind"] in ("modprobe", "noiommu") and outcome != DONE:
            prepared = False
        if "pci" in action:
            results.setdefault(action["pci"], []).append(outcome)
    entries = dict((entry["pci"], entry) for entry in decision["data"]["devices"])
    new_state = dict(decision["state"])
    for pci, done in results.items():
        if all(outcome == NOT_RUN for outcome in done):
            continue
        if not ctx.check:
            # what it is now, after the writes
            entries[pci]["driver"] = ctx.link_name(_pci_dir(pci) + "/driver")
            entries[pci]["driver_override"] = _override(ctx.read(_pci_dir(pci) + "/driver_override"))
        ok = all(outcome == DONE for outcome in done)
        if pci in decision["bound"]:
            if ok:
                new_state[pci] = decision["bound"][pci]
        elif not ok:
            new_state[pci] = current["state"][pci]  # still this program's to give back
    if prepared and not ctx.check and new_state != current["state"]:
        problem = ctx.save_state(DPDK_STATE_FILE, "devices", new_state)
        if problem:
            sec.error(problem)
