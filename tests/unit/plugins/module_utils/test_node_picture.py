# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node picture (plugins/module_utils/node_picture.py): golden SVG and
HTML files for machine shapes, and what each picture must show, read back
from the SVG.

Regenerate the golden files after an intended change with

    BOT4_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/plugins/module_utils/test_node_picture.py

and look at them (tests/unit/golden/pictures/*.svg in a browser) before
committing.
"""

import copy
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node_picture import (
    cpu_classes,
    fleet_index_html,
    node_html,
    node_svg,
)
from ansible_collections.bot4.hft.plugins.module_utils.planner import plan

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
PICTURES = GOLDEN / "pictures"
SVG_NS = "{http://www.w3.org/2000/svg}"


def load_profile(name):
    with open(GOLDEN / "profiles" / (name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def pools_state(the_plan, now=None):
    """A verify_state whose applier check read the plan's pools (``now``
    overrides some: {(node, size_kb): count})."""
    pools = []
    for pool in the_plan["hugepages"]:
        key = (pool["node"], pool["size_kb"])
        count = (now or {}).get(key, pool["count"])
        pools.append({"node": pool["node"], "size": pool["size"], "size_kb": pool["size_kb"],
                      "requested": pool["count"], "before": count, "now": count,
                      "differs": count != pool["count"], "short": count < pool["count"], "at_boot": True})
    return {"runtime": {"installed": True, "report": {"sections": {"hugepages": {
        "changes": [], "errors": [], "notices": [], "pools": pools}}}}}


LAB_DRIFT = [
    {"area": "hugepages", "item": "/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages",
     "expected": "1", "actual": "0"},
    {"area": "isolated set", "item": "/sys/devices/system/cpu/isolated", "expected": "2-3,6-7", "actual": "2-3"},
    {"area": "dpdk", "item": "/sys/bus/pci/devices/0000:81:00.0/driver_override", "expected": "vfio-pci",
     "actual": "(null)"},
    {"area": "kernel args", "item": "nohz_full=2-3,6-7", "expected": "in /proc/cmdline", "actual": "missing"},
    {"area": "affinity", "item": "pid 812 (chronyd, /system.slice/chrony.service)", "expected": "0-1,4-5",
     "actual": "0-7"},
]


def scenario(name, the_plan):
    """(report, state, host) of each golden picture."""
    if name == "drift":  # the lab node after hand changes: five differences
        report = {"host": "lab-node-1", "ok": False, "items": copy.deepcopy(LAB_DRIFT)}
        return report, pools_state(the_plan, {(1, 1048576): 0}), "lab-node-1"
    if name == "ok":  # verified, in its plan
        return {"host": "node-a", "ok": True, "items": []}, pools_state(the_plan), "node-a"
    return None, None, "node-b"  # not checked: no report, no state


# (shape, profile, scenario): SMT with a NIC and drift, no SMT, a CPU-less
# NUMA node, offline CPUs, nosmt.
CASES = [
    ("lab", "lab", "drift"),
    ("single8", "minimal", "ok"),
    ("lab_memnode", "lab", "unchecked"),
    ("offline2s", "explicit", "ok"),
    ("xeon2s", "first_nosmt", "unchecked"),
]
IDS = ["%s__%s__%s" % case for case in CASES]


@pytest.fixture(scope="module")
def plans(shape_topology):
    cache = {}

    def get(shape, profile):
        if (shape, profile) not in cache:
            cache[(shape, profile)] = plan(load_profile(profile), shape_topology(shape))
        return copy.deepcopy(cache[(shape, profile)])

    return get


def check_golden(path, text):
    if os.environ.get("BOT4_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), "%s is missing; run with BOT4_UPDATE_GOLDEN=1 and look at it" % path
    assert path.read_text(encoding="utf-8") == text, (
        "%s differs; if the change is intended, regenerate with BOT4_UPDATE_GOLDEN=1 and look at it" % path.name)


@pytest.mark.parametrize("shape, profile, name", CASES, ids=IDS)
def test_golden_svg_and_html(plans, shape, profile, name):
    the_plan = plans(shape, profile)
    report, state, host = scenario(name, the_plan)
    base = "%s__%s__%s" % (shape, profile, name)
    check_golden(PICTURES / (base + ".svg"), node_svg(the_plan, report, state, host))
    check_golden(PICTURES / (base + ".html"), node_html(the_plan, report, state, host))


def test_every_golden_picture_is_tested():
    names = {"%s.%s" % (i, ext) for i in IDS for ext in ("svg", "html")} | {"index.html"}
    assert {p.name for p in PICTURES.iterdir()} == names


# ------------------------------------------------------------ structure
def parse(svg_text):
    return ET.fromstring(svg_text)


def pus(root):
    return [g for g in root.iter(SVG_NS + "g") if "pu" in g.get("class", "").split()]


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]


@pytest.mark.parametrize("shape, profile, name", CASES, ids=IDS)
def test_every_cpu_appears_once_with_its_class(plans, shape, profile, name):
    the_plan = plans(shape, profile)
    report, state, host = scenario(name, the_plan)
    root = parse(node_svg(the_plan, report, state, host))
    seen = {}
    for g in pus(root):
        cpu = int(g.get("data-cpu"))
        assert cpu not in seen, "CPU %d drawn twice" % cpu
        seen[cpu] = g.get("class").split()
        # the label is the CPU number; the tooltip says its class
        assert "".join(g.find(SVG_NS + "text").itertext()) == str(cpu)
        assert seen[cpu][1] in g.find(SVG_NS + "title").text
    cpu = the_plan["cpu"]
    expected = {}
    for cls, key in (("reserved", "reserved"), ("isolated", "isolated"), ("offline", "offline"),
                     ("nosmt", "smt_siblings_offline")):
        for c in parse_cpulist(cpu[key]):
            expected[c] = cls
    assert set(seen) == set(expected), "CPUs drawn differ from the plan's"
    for c, cls in expected.items():
        assert seen[c][:2] == ["pu", cls], (c, seen[c])


@pytest.mark.parametrize("shape, profile, name", CASES, ids=IDS)
def test_threads_are_grouped_in_their_cores_nodes_and_sockets(plans, shape, profile, name):
    """The threads of each core of plan.layout sit side by side in one core box."""
    the_plan = plans(shape, profile)
    root = parse(node_svg(the_plan, *scenario(name, the_plan)))
    position = {}
    for g in pus(root):
        rect = g.find(SVG_NS + "rect")
        position[int(g.get("data-cpu"))] = (float(rect.get("x")), float(rect.get("y")))
    cores = [r for r in root.iter(SVG_NS + "rect") if r.get("class") == "core"]
    boxes = [(float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height"))) for r in cores]
    assert len(boxes) == len(the_plan["layout"]["cores"])
    for core in the_plan["layout"]["cores"]:
        threads = parse_cpulist(core["cpus"])
        ys = {position[c][1] for c in threads}
        assert len(ys) == 1, core
        holders = [b for b in boxes if all(b[0] <= position[c][0] < b[0] + b[2] and b[1] <= position[c][1] < b[1] + b[3]
                                           for c in threads)]
        assert len(holders) == 1, core
    labels = texts(root)
    sockets = sorted({c["socket"] for c in the_plan["layout"]["cores"]})
    assert sorted(t for t in labels if t.startswith("Socket ")) == ["Socket %d" % s for s in sockets]
    for node in the_plan["layout"]["nodes"]:
        title = "NUMA node %d - %d MiB" % (node["node"], node["memory_mib"])
        assert labels.count(title) == 1, title


def test_a_cpu_less_numa_node_is_drawn_with_its_memory_and_pools(plans):
    the_plan = plans("lab_memnode", "lab")
    assert the_plan["layout"]["nodes"][2] == {"node": 2, "memory_mib": 8192, "cpus": ""}
    root = parse(node_svg(the_plan, None, None, "node-b"))
    labels = texts(root)
    assert "NUMA nodes without cores (memory only, or CPUs of unknown core)" in labels
    assert "NUMA node 2 - 8192 MiB" in labels
    assert "1G pages: planned 0, now unknown" in labels
    assert "not checked" in labels


def test_hugepage_pools_show_planned_and_read_counts(plans):
    the_plan = plans("lab", "lab")
    report, state, host = scenario("drift", the_plan)
    root = parse(node_svg(the_plan, report, state, host))
    pool_texts = {"".join(t.itertext()): t.get("class") for t in root.iter(SVG_NS + "text")
                  if t.get("class", "").startswith("pool")}
    assert pool_texts == {
        "1G pages: planned 0, now 0": "pool",
        "2M pages: planned 256, now 256": "pool",
        "1G pages: planned 1, now 0": "pool differs",
        "2M pages: planned 0, now 0": "pool",
    }


def test_pools_now_come_from_the_applier_check_verify_ran(plans, tmp_path, monkeypatch):
    """verify_state.runtime.report is what the applier's check returns: its
    hugepages section's pools give the counts (a lab VM whose boot gave the
    1G page on node 1 and no 2M page on node 0)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "runtime"))
    import fakesys

    the_plan = plans("lab", "lab")
    machine = fakesys.Machine(tmp_path, monkeypatch, "lab-vm")
    _code, result = machine.check({"hugepages": the_plan["runtime"]["hugepages"]})
    root = parse(node_svg(the_plan, None, {"runtime": {"report": result}}, "lab"))
    pools = sorted("".join(t.itertext()) for t in root.iter(SVG_NS + "text") if t.get("class", "").startswith("pool"))
    assert pools == ["1G pages: planned 0, now 0", "1G pages: planned 1, now 1",
                     "2M pages: planned 0, now 0", "2M pages: planned 256, now 0"]


def test_dpdk_nics_sit_in_their_numa_node(plans):
    the_plan = plans("lab", "lab")
    root = parse(node_svg(the_plan, None, None, "lab"))
    nic_labels = [t for t in root.iter(SVG_NS + "text") if t.get("class") == "nic-label"]
    assert ["".join(t.itertext()) for t in nic_labels] == ["DPDK 0000:81:00.0 enp129s0 -> vfio-pci"]
    node_boxes = {}
    titles = [t for t in root.iter(SVG_NS + "text") if t.get("class") == "node-title"]
    numa_rects = [r for r in root.iter(SVG_NS + "rect") if r.get("class") == "numa"]
    for title, rect in zip(titles, numa_rects):
        node_boxes[int(re.match(r"NUMA node (\d+)", title.text).group(1))] = rect
    x, y = float(nic_labels[0].get("x")), float(nic_labels[0].get("y"))
    inside = [n for n, r in node_boxes.items()
              if float(r.get("x")) <= x <= float(r.get("x")) + float(r.get("width"))
              and float(r.get("y")) <= y <= float(r.get("y")) + float(r.get("height"))]
    assert inside == [the_plan["dpdk"]["devices"][0]["numa_node"]] == [1]


def test_each_difference_is_listed_and_marked_where_it_shows(plans):
    the_plan = plans("lab", "lab")
    report, state, host = scenario("drift", the_plan)
    root = parse(node_svg(the_plan, report, state, host))
    labels = texts(root)
    assert "5 differences from its plan" in labels
    listed = [t for t in root.iter(SVG_NS + "text") if t.get("class") == "difference"]
    assert ["".join(t.itertext()) for t in listed] == [
        "[hugepages] /sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages: expected 1, found 0",
        "[isolated set] /sys/devices/system/cpu/isolated: expected 2-3,6-7, found 2-3",
        "[dpdk] /sys/bus/pci/devices/0000:81:00.0/driver_override: expected vfio-pci, found (null)",
        "[kernel args] nohz_full=2-3,6-7: expected in /proc/cmdline, found missing",
        "[affinity] pid 812 (chronyd, /system.slice/chrony.service): expected 0-1,4-5, found 0-7",
    ]
    badges = [int(g.get("data-difference")) for g in root.iter(SVG_NS + "g") if g.get("class") == "badge"]
    # in the list, each once; on node 1 (the pool) and on the NIC
    assert sorted(badges) == [1, 1, 2, 3, 3, 4, 5]
    differs = sorted(int(g.get("data-cpu")) for g in pus(root) if "differs" in g.get("class").split())
    assert differs == [6, 7]  # planned isolated, not isolated by the kernel


def test_same_input_same_text_and_input_untouched(plans):
    the_plan = plans("xeon2s", "first_nosmt")
    before = json.dumps(the_plan, sort_keys=True)
    first = node_svg(the_plan, None, None, "x")
    assert node_svg(the_plan, None, None, "x") == first
    assert json.dumps(the_plan, sort_keys=True) == before


def test_text_is_escaped(plans):
    the_plan = plans("lab", "lab")
    report = {"ok": False, "items": [{"area": "kubelet", "item": "<script>alert(1)</script> & co",
                                      "expected": "a\"b", "actual": None}]}
    svg = node_svg(the_plan, report, None, "<b>host</b>")
    root = parse(svg)  # well-formed
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<b>host</b> - profile lab" in texts(root)
    html = node_html(the_plan, report, None, "<b>host</b>")
    assert "<script>" not in html and "<b>host</b>" not in html


def test_cpu_classes_cover_every_planned_cpu(plans):
    the_plan = plans("offline2s", "explicit")
    classes = cpu_classes(the_plan)
    assert {c for c, v in classes.items() if v == "offline"} == {20, 21, 22, 23}
    assert set(classes) == set(range(32))


# ---------------------------------------------------------------- HTML
class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.rows = []
        self.links = []
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_the_page_embeds_the_picture_and_lists_every_difference(plans):
    the_plan = plans("lab", "lab")
    report, state, host = scenario("drift", the_plan)
    html = node_html(the_plan, report, state, host)
    assert node_svg(the_plan, report, state, host).rstrip("\n") in html
    page = _Collector()
    page.feed(html)
    assert "script" not in page.tags
    assert page.links == ["index.html"]
    rows = [r for r in page.rows if r and r[0].isdigit()]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (str(n), i["area"], i["item"], i["expected"], i["actual"]) for n, i in enumerate(LAB_DRIFT, 1)]
    assert ["reserved CPUs", "0-1,4-5"] in page.rows
    # the whole plan, as JSON
    start = html.index("<pre>") + len("<pre>")
    text = html[start:html.index("</pre>", start)]
    assert json.loads(text.replace("&#34;", '"').replace("&quot;", '"')) == the_plan


def test_the_fleet_page_links_each_node_with_its_status(plans):
    lab = plans("lab", "lab")
    single = plans("single8", "minimal")
    nodes = [
        {"host": "lab-node-1", "report": {"host": "lab-node-1", "ok": False, "items": LAB_DRIFT}, "plan": lab},
        {"host": "node-a", "report": {"host": "node-a", "ok": True, "items": []}, "plan": single},
        {"host": "node-c", "report": None, "plan": None},  # its plan failed: no page
    ]
    html = fleet_index_html(nodes, "Trading nodes")
    check_golden(PICTURES / "index.html", html)
    page = _Collector()
    page.feed(html)
    assert page.links == ["lab-node-1.html", "lab-node-1.svg", "node-a.html", "node-a.svg"]
    rows = {r[0]: r[1:3] for r in page.rows[1:]}
    assert rows == {"lab-node-1": ["5 differences from its plan", "5"], "node-a": ["in its plan", "0"],
                    "node-c": ["not checked", ""]}
    assert "3 nodes: 1 in their plan, 1 with differences, 1 not checked" in html
