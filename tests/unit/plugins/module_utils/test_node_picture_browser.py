# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node page in a real browser: Debian's chromium, headless, driven over
the DevTools protocol on a pipe (standard library only).  The page and the
standalone SVG load with no console message, no exception and no failed
load, and a screenshot of the picture is not blank: it has the colours of
the reserved and the isolated CPUs.

chromium comes from tools/host-packages.txt (`make host-deps`). Without it
the test is skipped, unless BOT4_REQUIRE_BROWSER=1 (tests/suite.sh sets it),
where a missing browser fails.
"""

import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import time
import zlib

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.node_picture import fleet_index_html, node_html, node_svg
from ansible_collections.bot4.hft.plugins.module_utils.planner import plan

from test_node_picture import load_profile, scenario

BROWSERS = ("chromium", "chromium-browser")
RESERVED_RGB = (0x3B, 0x6E, 0xA5)
ISOLATED_RGB = (0x4C, 0x9A, 0x45)


def browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("BOT4_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is missing (tools/host-packages.txt; make host-deps installs it)")
    pytest.skip("chromium is not installed (make host-deps installs it)")


class DevTools:
    """Chromium with --remote-debugging-pipe: JSON messages, each ended by a
    NUL byte, written to its fd 3 and read from its fd 4."""

    def __init__(self, path, profile_dir):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def child_fds():
            # the child's fds 3 and 4 (inheritable; every other fd of this
            # process is close-on-exec), through fds above both
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (to_browser_r, from_browser_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [path, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--user-data-dir=" + profile_dir, "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             "--window-size=1280,1024", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # already gone: killed below
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise EOFError("chromium closed the pipe (exit %s)" % self.proc.poll())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None, timeout=30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)


def png_pixels(data):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _compression, _filter, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind in (3, 4):
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up = previous[i]
                if kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 0xFF
                    continue
                corner = previous[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else (up if pb <= pc else corner))) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        previous = line
    return width, height, rows


def near(pixel, rgb, tolerance=3):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb))


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory, shape_topology):
    """The lab node's picture, page and the fleet's page, as files."""
    directory = tmp_path_factory.mktemp("pictures")
    the_plan = plan(load_profile("lab"), shape_topology("lab"))
    report, state, host = scenario("drift", the_plan)
    (directory / (host + ".svg")).write_text(node_svg(the_plan, report, state, host), encoding="utf-8")
    (directory / (host + ".html")).write_text(node_html(the_plan, report, state, host), encoding="utf-8")
    (directory / "index.html").write_text(
        fleet_index_html([{"host": host, "report": report, "plan": the_plan}]), encoding="utf-8")
    return directory, host


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    path = browser()
    tools = DevTools(path, str(tmp_path_factory.mktemp("chromium-profile")))
    try:
        yield tools
    finally:
        tools.close()


def load(tools, url):
    """Open url in a new tab; (session, every console, exception and log event)."""
    target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        tools.send(domain + ".enable", session=session)
    tools.events.clear()
    tools.send("Page.navigate", {"url": url}, session=session)
    tools.wait_for("Page.loadEventFired")
    # anything logged right after the load event
    tools.send("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 200))", "awaitPromise": True},
               session=session)
    complaints = [e for e in tools.events if e.get("method") in (
        "Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")]
    return session, complaints


def svg_screenshot(tools, session):
    """The picture's pixels, at half scale (decoded in Python: fewer is faster)."""
    box = json.loads(tools.send("Runtime.evaluate", {
        "expression": "JSON.stringify(document.querySelector('svg').getBoundingClientRect())",
        "returnByValue": True}, session=session)["result"]["value"])
    assert box["width"] > 100 and box["height"] > 100, box
    shot = tools.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"], "scale": 0.5}},
        session=session)
    return png_pixels(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("suffix", [".html", ".svg"])
def test_the_picture_loads_cleanly_and_is_not_blank(chromium, lab_files, suffix):
    directory, host = lab_files
    session, complaints = load(chromium, (directory / (host + suffix)).as_uri())
    assert complaints == [], "the browser complained: %s" % json.dumps(complaints)[:2000]
    width, height, rows = svg_screenshot(chromium, session)
    pixels = [p for row in rows for p in row]
    colours = set(pixels)
    assert len(colours) > 20, "the picture has %d colours: blank?" % len(colours)
    ink = sum(1 for p in pixels if not near(p, (255, 255, 255), 8))
    assert ink > 0.05 * len(pixels), "only %d of %d pixels are not white" % (ink, len(pixels))
    # the CPU colours are drawn (the page's styles apply to the embedded
    # picture): 4 threads of each, about 15 x 10 pixels each at half scale
    assert sum(1 for p in pixels if near(p, RESERVED_RGB)) > 300
    assert sum(1 for p in pixels if near(p, ISOLATED_RGB)) > 300


def test_the_fleet_page_loads_cleanly_and_links_the_node(chromium, lab_files):
    directory, host = lab_files
    session, complaints = load(chromium, (directory / "index.html").as_uri())
    assert complaints == [], "the browser complained: %s" % json.dumps(complaints)[:2000]
    links = tools_eval(chromium, session, "Array.from(document.links).map(a => a.href)")
    assert links == [(directory / (host + ".html")).as_uri(), (directory / (host + ".svg")).as_uri()]


def tools_eval(tools, session, expression):
    return tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=session)["result"]["value"]
