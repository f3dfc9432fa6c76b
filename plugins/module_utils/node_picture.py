# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A picture of a node: its plan and what verify found, as SVG and HTML.

Pure functions run on the controller, from the plan (``plan.layout`` says
where every CPU sits, ``plan.cpu`` which set it is in, ``plan.dpdk`` and
``plan.hugepages`` the NICs and pools) and what the verify role exported
(``verify_report``: the differences; ``verify_state``: the hugepage pools as
the applier read them).  Nothing is computed here that the plan decides.

``node_model`` places every element (sockets, NUMA nodes, cores and their
threads, NICs, hugepage pools, numbered difference marks); ``node_svg``,
``node_html`` and ``fleet_index_html`` write them out through Jinja2
templates, escaped.  The same input gives the same text, byte for byte.

Each thread is ``<g class="pu CLASS" data-cpu="N">`` with CLASS one of
``reserved``, ``isolated``, ``nosmt`` (taken offline by ``nosmt``),
``offline`` or ``unplanned``, plus ``differs`` when a difference names it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

try:
    import jinja2
    from markupsafe import Markup
except ImportError:  # the controller always has them; a managed node does not need them
    jinja2 = Markup = None

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist

CLASSES = ("reserved", "isolated", "nosmt", "offline", "unplanned")
LEGEND = (
    ("reserved", "reserved (housekeeping)"),
    ("isolated", "isolated"),
    ("nosmt", "offline by nosmt"),
    ("offline", "offline"),
)

# Geometry (px).  Text is monospace, so its width is known.
CHAR_W = 7.25  # DejaVu Sans Mono at 12px: 0.602 em
LINE_H = 17
PU_W, PU_H = 34, 24
CORE_PAD, CORE_GAP = 4, 6
BOX_PAD = 10
SOCKET_GAP = 14
MARGIN = 16
NODE_MIN_W = 240
MAX_NODES_PER_ROW = 2
MAX_SOCKETS_PER_ROW = 2
MAX_DIFF_CHARS = 140

_NODE_PATH_RE = re.compile(r"/node([0-9]+)/")


def _text_w(text: str) -> float:
    return len(text) * CHAR_W


def _cpus(text: Any) -> List[int]:
    if isinstance(text, list):
        return [int(c) for c in text]
    try:
        return parse_cpulist(text or "")
    except ValueError:
        return []


def cpu_classes(plan: Dict[str, Any]) -> Dict[int, str]:
    """CPU id -> its class in the plan, for every CPU the plan knows."""
    cpu = plan.get("cpu") or {}
    classes: Dict[int, str] = {}
    for name, key in (("offline", "offline"), ("nosmt", "smt_siblings_offline"),
                      ("isolated", "isolated"), ("reserved", "reserved")):
        for c in _cpus(cpu.get(key)):
            classes[c] = name
    for c in _cpus(cpu.get("online")):
        classes.setdefault(c, "unplanned")
    layout = plan.get("layout") or {}
    for core in layout.get("cores") or []:
        for c in _cpus(core.get("cpus")):
            classes.setdefault(c, "unplanned")
    for node in layout.get("nodes") or []:
        for c in _cpus(node.get("cpus")):
            classes.setdefault(c, "unplanned")
    return classes


def status_of(report: Optional[Dict[str, Any]]) -> Tuple[str, str]:
    """(css class, words) of a node's verify report."""
    if not report:
        return "unchecked", "not checked"
    items = report.get("items") or []
    if report.get("ok") and not items:
        return "ok", "in its plan"
    return "drift", "%d difference%s from its plan" % (len(items), "" if len(items) == 1 else "s")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def difference_text(number: int, item: Dict[str, Any]) -> str:
    return "%d. [%s] %s: expected %s, found %s" % (
        number, item.get("area", "?"), item.get("item", "?"), _show(item.get("expected")), _show(item.get("actual")))


def _locate(item: Dict[str, Any], nic_by_pci: Dict[str, int], known_nodes: List[int]):
    """Where a difference shows: (nodes, NIC addresses, CPUs)."""
    words = " ".join(_show(item.get(k)) for k in ("item", "expected", "actual"))
    nodes = sorted({int(n) for n in _NODE_PATH_RE.findall(words) if int(n) in known_nodes})
    nics = sorted(pci for pci in nic_by_pci if pci in words)
    cpus: List[int] = []
    if item.get("area") == "isolated set":
        want = set(_cpus(_show(item.get("expected"))))
        have = set(_cpus(_show(item.get("actual"))))
        cpus = sorted(want ^ have)
    return nodes, nics, cpus


def hugepages_now(state: Optional[Dict[str, Any]]) -> Optional[Dict[Tuple[int, int], Any]]:
    """(node, size_kb) -> pages now, as the applier's check read them; None
    when the state has no such report (not read, or no applier installed)."""
    runtime = (state or {}).get("runtime") or {}
    report = runtime.get("report") or {}
    section = (report.get("sections") or {}).get("hugepages")
    if not section or "pools" not in section:
        return None
    return {(int(p["node"]), int(p["size_kb"])): p.get("now") for p in section["pools"]}


class _Canvas:
    def __init__(self):
        self.elements: List[Dict[str, Any]] = []

    def rect(self, x, y, w, h, cls, rx=4):
        self.elements.append({"kind": "rect", "attrs": {
            "x": _n(x), "y": _n(y), "width": _n(w), "height": _n(h), "rx": rx, "class": cls}})

    def text(self, x, y, text, cls="label", anchor=None):
        attrs = {"x": _n(x), "y": _n(y), "class": cls}
        if anchor:
            attrs["text-anchor"] = anchor
        self.elements.append({"kind": "text", "attrs": attrs, "text": text})

    def badge(self, x, y, number):
        self.elements.append({"kind": "badge", "attrs": {"class": "badge", "data-difference": number},
                              "cx": _n(x), "cy": _n(y), "text": str(number)})

    def pu(self, x, y, cpu, cls, title):
        self.elements.append({"kind": "pu", "attrs": {"class": "pu " + cls, "data-cpu": cpu},
                              "x": _n(x), "y": _n(y), "w": PU_W, "h": PU_H,
                              "tx": _n(x + PU_W / 2), "ty": _n(y + PU_H / 2 + 4), "text": str(cpu),
                              "title": title})


def _n(value: float) -> str:
    """Coordinates written the same way every time."""
    return ("%.1f" % value).rstrip("0").rstrip(".")


def node_model(plan: Dict[str, Any], report: Optional[Dict[str, Any]] = None,
               state: Optional[Dict[str, Any]] = None, host: str = "") -> Dict[str, Any]:
    """Everything the picture shows, placed: a dict the templates write out."""
    layout = plan.get("layout") or {}
    classes = cpu_classes(plan)
    items = list((report or {}).get("items") or [])
    status_cls, status_words = status_of(report)
    summary = plan.get("topology_summary") or {}
    nodes_info = {int(n["node"]): n for n in layout.get("nodes") or []}
    node_ids = sorted(nodes_info)
    devices = (plan.get("dpdk") or {}).get("devices") or []
    nic_by_pci = {d["pci"]: d.get("numa_node") for d in devices}
    now = hugepages_now(state)

    # Differences: where each one shows
    marks_node: Dict[int, List[int]] = {}
    marks_nic: Dict[str, List[int]] = {}
    cpu_marks: Dict[int, List[int]] = {}
    differences = []
    for number, item in enumerate(items, 1):
        nodes, nics, cpus = _locate(item, nic_by_pci, node_ids)
        for n in nodes:
            marks_node.setdefault(n, []).append(number)
        for pci in nics:
            marks_nic.setdefault(pci, []).append(number)
        for c in cpus:
            cpu_marks.setdefault(c, []).append(number)
        differences.append({"number": number, "area": item.get("area", "?"), "item": item.get("item", "?"),
                            "expected": _show(item.get("expected")), "actual": _show(item.get("actual")),
                            "text": difference_text(number, item)})

    # Cores per (socket, node), in the plan's order
    groups: Dict[Tuple[Any, Any], List[List[int]]] = {}
    socket_order: List[Any] = []
    for core in layout.get("cores") or []:
        key = (core.get("socket"), core.get("node"))
        if core.get("socket") not in socket_order:
            socket_order.append(core.get("socket"))
        groups.setdefault(key, []).append(_cpus(core.get("cpus")))
    in_cores = {c for cores in groups.values() for core in cores for c in core}
    threads = max([len(core) for cores in groups.values() for core in cores] + [1])
    core_w = threads * PU_W + 2 * CORE_PAD
    core_cols = 4 if threads > 1 else 8
    first_socket_of: Dict[Any, Any] = {}
    for socket, node in groups:
        first_socket_of.setdefault(node, socket)

    def pools_of(node):
        lines = []
        for pool in plan.get("hugepages") or []:
            if int(pool["node"]) != node:
                continue
            got = None if now is None else now.get((node, int(pool["size_kb"])))
            shown = "unknown" if got is None else str(got)
            lines.append({"text": "%s pages: planned %d, now %s" % (pool["size"], pool["count"], shown),
                          "cls": "pool" if got is None or got == pool["count"] else "pool differs"})
        return lines

    def nics_of(node):
        return [{"pci": d["pci"],
                 "text": "DPDK %s %s -> %s" % (d["pci"], d.get("netdev") or "", d.get("target_driver") or ""),
                 "numbers": marks_nic.get(d["pci"], [])}
                for d in devices if d.get("numa_node") == node]

    def node_box(socket, node):
        """(width, height, draw(canvas, x, y)) of one NUMA node's box in a socket."""
        cores = groups.get((socket, node), [])
        primary = first_socket_of.get(node, socket) == socket
        info = nodes_info.get(node) or {}
        loose = []
        if primary:
            loose = [c for c in _cpus(info.get("cpus")) if c not in in_cores]
        mem = info.get("memory_mib")
        title = "NUMA node %s" % ("?" if node is None else node)
        if mem is not None:
            title += " - %d MiB" % mem
        if not primary:
            title += " (continued)"
        nics = nics_of(node) if primary else []
        pools = pools_of(node) if primary else []
        cols = min(core_cols, max(len(cores), 1))
        rows = (len(cores) + core_cols - 1) // core_cols
        grid_w = cols * core_w + (cols - 1) * CORE_GAP if cores else 0
        loose_w = len(loose) * (PU_W + 2)
        texts = [title] + [n["text"] for n in nics] + [p["text"] for p in pools]
        numbers = marks_node.get(node, []) if primary else []
        width = max([NODE_MIN_W, grid_w, loose_w] + [_text_w(t) + 24 * (1 + len(numbers)) for t in texts])
        width += 2 * BOX_PAD
        height = BOX_PAD + LINE_H + 4
        height += rows * (PU_H + 2 * CORE_PAD + CORE_GAP)
        if loose:
            height += LINE_H + PU_H + 6
        height += (len(nics) + len(pools)) * LINE_H + BOX_PAD

        def draw(canvas, x, y):
            canvas.rect(x, y, width, height, "numa" if node is not None else "numa unknown")
            canvas.text(x + BOX_PAD, y + BOX_PAD + 11, title, "node-title")
            for i, number in enumerate(numbers):
                canvas.badge(x + width - BOX_PAD - 9 - 22 * i, y + BOX_PAD + 7, number)
            cy = y + BOX_PAD + LINE_H + 4
            for index, core in enumerate(cores):
                row, col = divmod(index, core_cols)
                cx = x + BOX_PAD + col * (core_w + CORE_GAP)
                ry = cy + row * (PU_H + 2 * CORE_PAD + CORE_GAP)
                canvas.rect(cx, ry, core_w, PU_H + 2 * CORE_PAD, "core", rx=3)
                for t_index, c in enumerate(core):
                    _pu(canvas, cx + CORE_PAD + t_index * PU_W, ry + CORE_PAD, c, core, node, socket)
            cy += rows * (PU_H + 2 * CORE_PAD + CORE_GAP)
            if loose:
                canvas.text(x + BOX_PAD, cy + 11, "offline, core unknown:", "note")
                cy += LINE_H
                for i, c in enumerate(loose):
                    _pu(canvas, x + BOX_PAD + i * (PU_W + 2), cy, c, None, node, socket)
                cy += PU_H + 6
            for nic in nics:
                canvas.rect(x + BOX_PAD - 4, cy + 1, _text_w(nic["text"]) + 8, LINE_H - 2, "nic", rx=2)
                canvas.text(x + BOX_PAD, cy + 13, nic["text"], "nic-label")
                for i, number in enumerate(nic["numbers"]):
                    canvas.badge(x + BOX_PAD + _text_w(nic["text"]) + 16 + 22 * i, cy + 9, number)
                cy += LINE_H
            for pool in pools:
                canvas.text(x + BOX_PAD, cy + 13, pool["text"], pool["cls"])
                cy += LINE_H

        return width, height, draw

    def _pu(canvas, x, y, c, core, node, socket):
        cls = classes.get(c, "unplanned")
        words = ["CPU %d" % c, cls]
        if core and len(core) > 1:
            words.append("core with CPUs %s" % ",".join(str(t) for t in core))
        words.append("NUMA node %s, socket %s" % ("?" if node is None else node, "?" if socket is None else socket))
        if c in cpu_marks:
            cls += " differs"
            words.append("differs: see %s" % ", ".join("#%d" % n for n in cpu_marks[c]))
        canvas.pu(x, y, c, cls, "; ".join(words))

    canvas = _Canvas()
    header = [
        "%s - profile %s" % (host or "node", plan.get("profile_name", "?")),
        "%s, kernel %s, %s socket(s), NUMA nodes %s, %s CPUs online"
        % (summary.get("cpu_vendor") or "?", summary.get("kernel_release") or "?", summary.get("sockets", "?"),
           ",".join(str(n) for n in node_ids) or "?", summary.get("cpus_online", "?")),
        "reserved %s  isolated %s  offline %s"
        % ((plan.get("cpu") or {}).get("reserved") or "-", (plan.get("cpu") or {}).get("isolated") or "-",
           (plan.get("cpu") or {}).get("offline") or "-"),
    ]
    y = MARGIN
    canvas.text(MARGIN, y + 13, header[0], "host")
    y += LINE_H + 4
    canvas.text(MARGIN, y + 12, status_words, "status " + status_cls)
    y += LINE_H
    for line in header[1:]:
        canvas.text(MARGIN, y + 12, line, "label")
        y += LINE_H
    y += 4
    x = MARGIN
    for cls, words in LEGEND:
        canvas.rect(x, y, 16, 14, "pu-swatch " + cls, rx=2)
        canvas.text(x + 20, y + 11, words, "label")
        x += 20 + _text_w(words) + 18
    canvas.rect(x, y, 16, 14, "pu-swatch differs", rx=2)
    canvas.text(x + 20, y + 11, "named by a difference", "label")
    x += 20 + _text_w("named by a difference") + 18
    canvas.rect(x, y + 1, 16, 12, "nic", rx=2)
    canvas.text(x + 20, y + 11, "DPDK NIC", "label")
    x += 20 + _text_w("DPDK NIC")
    width = x + MARGIN
    y += LINE_H + 10

    # Sockets, each with its NUMA nodes (rows of MAX_NODES_PER_ROW)
    socket_boxes = []
    for socket in socket_order:
        node_keys = [node for (s, node) in groups if s == socket]
        boxes = [node_box(socket, node) for node in node_keys]
        rows = [boxes[i:i + MAX_NODES_PER_ROW] for i in range(0, len(boxes), MAX_NODES_PER_ROW)]
        inner_w = max(sum(b[0] for b in row) + (len(row) - 1) * BOX_PAD for row in rows)
        inner_h = sum(max(b[1] for b in row) for row in rows) + (len(rows) - 1) * BOX_PAD
        sw = inner_w + 2 * BOX_PAD
        sh = inner_h + 2 * BOX_PAD + LINE_H + 2
        socket_boxes.append((socket, sw, sh, rows))
    for start in range(0, len(socket_boxes), MAX_SOCKETS_PER_ROW):
        row = socket_boxes[start:start + MAX_SOCKETS_PER_ROW]
        x = MARGIN
        for socket, sw, sh, rows in row:
            canvas.rect(x, y, sw, sh, "socket", rx=6)
            canvas.text(x + BOX_PAD, y + BOX_PAD + 11, "Socket %s" % ("?" if socket is None else socket),
                        "socket-title")
            ny = y + BOX_PAD + LINE_H + 2
            for node_row in rows:
                nx = x + BOX_PAD
                for bw, bh, draw in node_row:
                    draw(canvas, nx, ny)
                    nx += bw + BOX_PAD
                ny += max(b[1] for b in node_row) + BOX_PAD
            x += sw + SOCKET_GAP
        width = max(width, x - SOCKET_GAP + MARGIN)
        y += max(r[2] for r in row) + SOCKET_GAP

    # NUMA nodes with no core: memory-only nodes, or nodes whose CPUs are all of unknown core
    others = [n for n in node_ids if n not in first_socket_of]
    if others:
        canvas.text(MARGIN, y + 12, "NUMA nodes without cores (memory only, or CPUs of unknown core)", "socket-title")
        y += LINE_H + 2
        x = MARGIN
        tallest = 0
        for node in others:
            bw, bh, draw = node_box(None, node)
            draw(canvas, x, y)
            x += bw + BOX_PAD
            tallest = max(tallest, bh)
        width = max(width, x - BOX_PAD + MARGIN)
        y += tallest + SOCKET_GAP

    # DPDK NICs whose NUMA node the kernel does not say
    for d in devices:
        if d.get("numa_node") not in node_ids:
            text = "DPDK %s %s -> %s (NUMA node unknown)" % (d["pci"], d.get("netdev") or "", d.get("target_driver") or "")
            canvas.rect(MARGIN - 4, y + 1, _text_w(text) + 8, LINE_H - 2, "nic", rx=2)
            canvas.text(MARGIN, y + 13, text, "nic-label")
            for i, number in enumerate(marks_nic.get(d["pci"], [])):
                canvas.badge(MARGIN + _text_w(text) + 16 + 22 * i, y + 9, number)
            width = max(width, MARGIN + _text_w(text) + 40 + MARGIN)
            y += LINE_H + SOCKET_GAP

    # CPUs the plan knows that no core and no node holds
    placed = in_cores | {c for n in nodes_info.values() for c in _cpus(n.get("cpus"))}
    unplaced = sorted(c for c in classes if c not in placed)
    if unplaced:
        canvas.text(MARGIN, y + 12, "CPUs of unknown place", "socket-title")
        y += LINE_H
        for i, c in enumerate(unplaced):
            _pu(canvas, MARGIN + i * (PU_W + 2), y, c, None, None, None)
        width = max(width, MARGIN + len(unplaced) * (PU_W + 2) + MARGIN)
        y += PU_H + SOCKET_GAP

    # Every difference, numbered as the marks above
    if differences:
        canvas.text(MARGIN, y + 12, "What verify found", "socket-title")
        y += LINE_H + 2
        for d in differences:
            text = d["text"].split(". ", 1)[1]
            if len(text) > MAX_DIFF_CHARS:
                text = text[:MAX_DIFF_CHARS - 3] + "..."
            canvas.badge(MARGIN + 9, y + 8, d["number"])
            canvas.text(MARGIN + 24, y + 12, text, "difference")
            width = max(width, MARGIN + 24 + _text_w(text) + MARGIN)
            y += LINE_H + 2
    height = y + MARGIN - SOCKET_GAP if not differences else y + MARGIN
    return {
        "host": host,
        "title": "%s: %s" % (host or "node", status_words),
        "status": status_cls,
        "status_words": status_words,
        "width": _n(round(width)),
        "height": _n(round(height)),
        "elements": canvas.elements,
        "differences": differences,
    }


_STYLE = """
.background { fill: #ffffff; }
text { fill: #222222; }
.host { font-size: 15px; font-weight: bold; }
.status.ok { fill: #2e7d32; font-weight: bold; }
.status.drift { fill: #c62828; font-weight: bold; }
.status.unchecked { fill: #757575; font-weight: bold; }
.socket { fill: #f4f4f4; stroke: #555555; stroke-width: 1.5; }
.socket-title, .node-title { font-weight: bold; }
.numa { fill: #ffffff; stroke: #8a8a8a; stroke-width: 1; stroke-dasharray: 4 2; }
.core { fill: #e9e9e9; stroke: #9e9e9e; stroke-width: 1; }
.pu rect, .pu-swatch { stroke: #ffffff; stroke-width: 1; }
.pu text { font-size: 11px; fill: #ffffff; }
.reserved rect, .pu-swatch.reserved { fill: #3b6ea5; }
.isolated rect, .pu-swatch.isolated { fill: #4c9a45; }
.nosmt rect, .pu-swatch.nosmt { fill: #c7c7c7; }
.offline rect, .pu-swatch.offline { fill: #8d8d8d; }
.unplanned rect { fill: #ffffff; stroke: #555555; }
.unplanned text, .nosmt text { fill: #222222; }
.differs rect, .pu-swatch.differs { stroke: #d50000; stroke-width: 3; }
.pu-swatch.differs { fill: #ffffff; }
.nic { fill: #ffe0b2; stroke: #ef6c00; stroke-width: 1; }
.nic-label { fill: #6d3400; }
.pool { fill: #333333; }
.pool.differs { fill: #c62828; font-weight: bold; }
.note { fill: #616161; font-style: italic; }
.badge circle { fill: #d50000; }
.badge text { fill: #ffffff; font-size: 10px; font-weight: bold; }
.difference { fill: #b71c1c; }
"""

_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{{ m.width }}" height="{{ m.height }}" \
viewBox="0 0 {{ m.width }} {{ m.height }}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" \
font-size="12" role="img" aria-labelledby="picture-title">
<title id="picture-title">{{ m.title }}</title>
<style>{{ style }}</style>
<rect class="background" x="0" y="0" width="{{ m.width }}" height="{{ m.height }}"/>
{% for e in m.elements -%}
{% if e.kind == 'rect' -%}
<rect{{ e.attrs | xmlattr }}/>
{% elif e.kind == 'text' -%}
<text{{ e.attrs | xmlattr }}>{{ e.text }}</text>
{% elif e.kind == 'badge' -%}
<g{{ e.attrs | xmlattr }}><circle cx="{{ e.cx }}" cy="{{ e.cy }}" r="8"/>\
<text x="{{ e.cx }}" y="{{ e.cy }}" dy="3.5" text-anchor="middle">{{ e.text }}</text></g>
{% elif e.kind == 'pu' -%}
<g{{ e.attrs | xmlattr }}><title>{{ e.title }}</title>\
<rect x="{{ e.x }}" y="{{ e.y }}" width="{{ e.w }}" height="{{ e.h }}" rx="2"/>\
<text x="{{ e.tx }}" y="{{ e.ty }}" text-anchor="middle">{{ e.text }}</text></g>
{% endif -%}
{% endfor -%}
</svg>
"""

_PAGE_STYLE = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; }
.ok { color: #2e7d32; } .drift { color: #c62828; } .unchecked { color: #757575; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; }
code, pre { font-family: DejaVu Sans Mono, monospace; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
.picture { overflow-x: auto; }
"""

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ m.title }}</title>
<style>{{ page_style }}</style>
</head>
<body>
{% if index %}<p><a href="{{ index }}">All nodes</a></p>{% endif %}
<h1>{{ m.host or 'node' }}: <span class="{{ m.status }}">{{ m.status_words }}</span></h1>
<div class="picture">
{{ svg }}
</div>
<h2>Differences verify found</h2>
{% if m.differences %}
<table>
<tr><th>#</th><th>area</th><th>item</th><th>expected</th><th>found</th></tr>
{% for d in m.differences %}
<tr><td class="num">{{ d.number }}</td><td>{{ d.area }}</td><td><code>{{ d.item }}</code></td>\
<td><code>{{ d.expected }}</code></td><td><code>{{ d.actual }}</code></td></tr>
{% endfor %}
</table>
{% elif m.status == 'ok' %}
<p>None: the node is in its plan.</p>
{% else %}
<p>The node was not compared with its plan.</p>
{% endif %}
<h2>The plan</h2>
<table>
{% for key, value in summary %}
<tr><th>{{ key }}</th><td><code>{{ value }}</code></td></tr>
{% endfor %}
</table>
<details>
<summary>The whole plan (JSON)</summary>
<pre>{{ plan_json }}</pre>
</details>
<details>
<summary>The verify report (JSON)</summary>
<pre>{{ report_json }}</pre>
</details>
</body>
</html>
"""

_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ page_style }}</style>
</head>
<body>
<h1>{{ title }}</h1>
<p>{{ counts }}</p>
<table>
<tr><th>node</th><th>status</th><th>differences</th><th>profile</th><th>reserved</th><th>isolated</th><th>picture</th></tr>
{% for n in nodes %}
<tr><td>{% if n.page %}<a href="{{ n.page }}">{{ n.host }}</a>{% else %}{{ n.host }}{% endif %}</td>\
<td class="{{ n.status }}">{{ n.words }}</td><td class="num">{{ n.count }}</td><td>{{ n.profile }}</td>\
<td><code>{{ n.reserved }}</code></td><td><code>{{ n.isolated }}</code></td>\
<td>{% if n.svg %}<a href="{{ n.svg }}">SVG</a>{% endif %}</td></tr>
{% endfor %}
</table>
</body>
</html>
"""


def _env():
    if jinja2 is None:
        raise RuntimeError("the node picture needs Jinja2 (the controller's ansible-core has it)")
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def node_svg(plan: Dict[str, Any], report: Optional[Dict[str, Any]] = None,
             state: Optional[Dict[str, Any]] = None, host: str = "") -> str:
    """The node's picture as an SVG document."""
    model = node_model(plan, report, state, host)
    return _env().from_string(_SVG).render(m=model, style=_STYLE)


def node_html(plan: Dict[str, Any], report: Optional[Dict[str, Any]] = None,
              state: Optional[Dict[str, Any]] = None, host: str = "", index: str = "index.html") -> str:
    """A page with the picture, every difference, the plan and the verify report."""
    env = _env()
    model = node_model(plan, report, state, host)
    svg = env.from_string(_SVG).render(m=model, style=_STYLE)
    cpu = plan.get("cpu") or {}
    dpdk = plan.get("dpdk") or {}
    summary = [
        ("profile", plan.get("profile_name", "")),
        ("reserved CPUs", cpu.get("reserved", "")),
        ("isolated CPUs", "%s (%s)" % (cpu.get("isolated", ""), cpu.get("isolation", ""))),
        ("offline CPUs", cpu.get("offline") or "-"),
        ("offline by nosmt", cpu.get("smt_siblings_offline") or "-"),
        ("kernel arguments", " ".join(plan.get("kernel_args") or [])),
        ("hugepages", ", ".join("node %s: %d x %s" % (p["node"], p["count"], p["size"])
                                for p in plan.get("hugepages") or [] if p.get("count"))),
        ("DPDK NICs", ", ".join("%s (node %s) -> %s" % (d["pci"], d.get("numa_node"), d.get("target_driver"))
                                for d in dpdk.get("devices") or []) or "-"),
    ]
    # The SVG is this module's own escaped output: embedded as it is.
    return env.from_string(_HTML).render(
        m=model, svg=Markup(svg.rstrip("\n")),
        page_style=_PAGE_STYLE, summary=summary, index=index,
        plan_json=json.dumps(plan, indent=2, sort_keys=True),
        report_json=json.dumps(report, indent=2, sort_keys=True) if report else "not checked")


def fleet_index_html(nodes: List[Dict[str, Any]], title: str = "HFT nodes") -> str:
    """The fleet's page: each node (``host``, ``report`` or None, ``plan`` or
    None) with its status, linked to its page when it has a plan."""
    rows = []
    counts = {"ok": 0, "drift": 0, "unchecked": 0}
    for node in nodes:
        host = str(node.get("host", ""))
        report = node.get("report")
        plan = node.get("plan") or {}
        status, words = status_of(report)
        counts[status] += 1
        cpu = plan.get("cpu") or {}
        rows.append({
            "host": host, "status": status, "words": words,
            "count": len((report or {}).get("items") or []) if report else "",
            "profile": plan.get("profile_name", ""), "reserved": cpu.get("reserved", ""),
            "isolated": cpu.get("isolated", ""),
            "page": (host + ".html") if plan else "", "svg": (host + ".svg") if plan else "",
        })
    text = "%d node%s: %d in their plan, %d with differences, %d not checked" % (
        len(rows), "" if len(rows) == 1 else "s", counts["ok"], counts["drift"], counts["unchecked"])
    return _env().from_string(_INDEX).render(title=title, counts=text, nodes=rows, page_style=_PAGE_STYLE)
