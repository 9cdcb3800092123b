"""The incident record's HTML page in a real headless Chromium: the chart is drawn, nothing is loaded.

Chromium comes from Debian's `chromium` package; the session fixture installs it when
/usr/bin/chromium is missing (as root) and fails, with apt's output, when it cannot.
"""

from __future__ import annotations

import collections
import html.parser
import http.server
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".venv" / "collections"))

from ansible_collections.propie.rollback.plugins.module_utils import record as rec
from tests.integration.test_incident_record import CONTACTS, realistic_record

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT = 90  # seconds per call
APT_TIMEOUT = 1800
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--force-color-profile=srgb", "--hide-scrollbars", "--mute-audio"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's chromium, installed once (apt-get) when missing."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0:
            pytest.fail("%s is missing and installing it needs root: apt-get install -y chromium" % CHROMIUM)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt run may hold the lock for a while
        for cmd in (["apt-get", *lock, "update"], ["apt-get", *lock, "install", "-y", "chromium"]):
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                pytest.fail("installing chromium: %s did not finish in %ss" % (" ".join(cmd), APT_TIMEOUT))
            if proc.returncode != 0:
                pytest.fail("installing chromium failed: %s exited %s\n%s\n%s"
                            % (" ".join(cmd), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        if not os.path.exists(CHROMIUM):
            pytest.fail("apt-get install chromium succeeded but %s is still missing" % CHROMIUM)
    return CHROMIUM


def run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium call, in its own process group, killed as a group after the timeout."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    cmd = [binary, *FLAGS, "--user-data-dir=%s" % profile, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium did not finish in %ss: %s" % (CHROMIUM_TIMEOUT, " ".join(cmd)))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # helpers it may have left behind
        except ProcessLookupError:
            pass
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert proc.returncode == 0, "chromium exited %s: %s" % (proc.returncode, err.decode(errors="replace")[-3000:])
    return result


# -- a small DOM and PNG reader -----------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], ""

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def classes(self):
        return set((self.attrs.get("class") or "").split())

    def all_text(self):
        return self.text + "".join(c.all_text() for c in self.children)


class DomBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.text += data


def parse_dom(text: str) -> Node:
    builder = DomBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def decode_png(data: bytes):
    """(width, height, channels, rows) of an 8-bit RGB/RGBA non-interlaced PNG; rows are bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "bad CRC in %r" % kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _compression, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG %r" % (header,)
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            assert kind == 0, "bad filter type %d" % kind
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows


def colour_counts(rows, bpp):
    counts = collections.Counter()
    for row in rows:
        counts.update(row[i:i + 3] for i in range(0, len(row), bpp))
    return counts


def hex_rgb(text: str) -> bytes:
    return bytes.fromhex(text.lstrip("#"))


def test_png_decoder_handles_every_filter_type():
    width, height = 5, 5
    pixels = [[(x * 40 + y, y * 50, (x * y * 7) % 256) for x in range(width)] for y in range(height)]
    raw = b""
    previous = bytes(width * 3)
    for y, filter_type in enumerate(range(5)):  # rows filtered 0, 1, 2, 3, 4
        line = bytes(v for px in pixels[y] for v in px)
        out = bytearray()
        for i, value in enumerate(line):
            a = line[i - 3] if i >= 3 else 0
            b = previous[i]
            c = previous[i - 3] if i >= 3 else 0
            p = a + b - c
            pred = [0, a, b, (a + b) >> 1,
                    a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c]
            out.append((value - pred[filter_type]) & 0xFF)
        raw += bytes([filter_type]) + bytes(out)
        previous = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    w, h, bpp, rows = decode_png(png)
    assert (w, h, bpp) == (5, 5, 3)
    assert [[tuple(r[i:i + 3]) for i in range(0, 15, 3)] for r in rows] == pixels


# -- the page in Chromium ----------------------------------------------------------------------


def write_page(tmp_path: Path, record: dict) -> tuple[Path, dict]:
    normalised = rec.build_record(record, CONTACTS)
    page = tmp_path / ("%s.html" % normalised["incident_id"])
    page.write_text(rec.render_html(normalised), encoding="utf-8")
    return page, normalised


def bars_of(dom: Node):
    timeline = next(n for n in dom.iter() if n.attrs.get("id") == "timeline")
    return timeline, [n for n in timeline.iter() if "bar" in n.classes()]


def style_percent(node: Node, prop: str) -> float:
    match = re.search(r"(?:^|;)\s*%s:\s*([0-9.]+)%%" % prop, node.attrs.get("style") or "")
    assert match, "no %s in style %r" % (prop, node.attrs.get("style"))
    return float(match.group(1))


def test_timeline_is_drawn_in_chromium(chromium, tmp_path):
    page, record = write_page(tmp_path, realistic_record())
    dumped = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    dom = parse_dom(dumped.stdout.decode("utf-8"))
    timeline, bars = bars_of(dom)
    steps = [s["step"] for s in record["timeline"]]
    assert len(steps) == 8
    assert [b.attrs.get("data-step") for b in bars] == steps
    for node, step in zip(bars, record["timeline"]):
        assert style_percent(node, "width") > 0
        assert float(node.attrs["data-start"]) == rec._seconds(record["started"], step["started"])
        assert float(node.attrs["data-end"]) == rec._seconds(record["started"], step["ended"])
        assert "succeeded" in node.classes()
    by_step = {b.attrs["data-step"]: b for b in bars}
    wait = by_step["wait for restored table"]
    assert (float(wait.attrs["data-start"]), float(wait.attrs["data-end"])) == (40.0, 1350.0)
    # Positioned relative to the incident start (15:00) over the whole run (26m10s).
    assert style_percent(wait, "left") == pytest.approx(40 / 1570 * 100, abs=0.01)
    assert style_percent(wait, "width") == pytest.approx(1310 / 1570 * 100, abs=0.01)
    assert style_percent(by_step["plan and lock"], "left") == 0
    labels = [n.all_text() for n in timeline.iter() if "label" in n.classes()]
    assert labels[1] == "revert traffic to bluetraffic"
    assert any(n.tag == "span" and "tick" in n.classes() for n in timeline.iter())

    shot = tmp_path / "timeline.png"
    run_chromium(chromium, tmp_path, "--screenshot=%s" % shot, "--window-size=1280,900", page.as_uri())
    width, height, bpp, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 900)
    counts = colour_counts(rows, bpp)
    assert len(counts) > 50, "the screenshot looks blank: %d colours" % len(counts)
    green = hex_rgb(rec.STATUS_COLOURS["succeeded"])
    assert counts[green] > 500, "no succeeded-bar colour %s in the screenshot" % rec.STATUS_COLOURS["succeeded"]
    assert counts.most_common(1)[0][1] < width * height * 0.9  # not one flat colour


class Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    """A local HTTP server that records every request (the page must make none)."""
    Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_hostile_record_text_stays_text_and_nothing_is_loaded(chromium, tmp_path, listener):
    record = realistic_record()
    hostile = "</script><img src=x onerror=alert(1)>"
    fetching = '<img src="%s/step.png">' % listener
    record["timeline"][1]["step"] = hostile
    record["timeline"][2]["step"] = fetching
    record["timeline"][3].update(status="failed", detail="see %s/runbook <script src='%s/x.js'></script>"
                                 % (listener, listener))
    record["components"]["frontend"]["detail"] = '<link rel="stylesheet" href="%s/x.css">' % listener
    record["who"] = "<iframe src='%s/frame'></iframe>" % listener
    page, normalised = write_page(tmp_path, record)

    dumped = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout.decode("utf-8")
    dom = parse_dom(dumped)
    tags = {n.tag for n in dom.iter()}
    assert not tags & {"img", "iframe", "link", "object", "embed"}, tags
    assert sum(1 for n in dom.iter() if n.tag == "script") == 2
    bars = bars_of(dom)[1]
    assert [b.attrs["data-step"] for b in bars] == [s["step"] for s in normalised["timeline"]]
    assert hostile in [b.attrs["data-step"] for b in bars] and fetching in [b.attrs["data-step"] for b in bars]
    assert "failed" in bars[3].classes()
    assert json.loads(next(n for n in dom.iter() if n.attrs.get("id") == "incident-record").text) == normalised

    shot = tmp_path / "hostile.png"
    run_chromium(chromium, tmp_path, "--screenshot=%s" % shot, "--window-size=1280,900", page.as_uri())
    width, height, bpp, rows = decode_png(shot.read_bytes())
    counts = colour_counts(rows, bpp)
    assert counts[hex_rgb(rec.STATUS_COLOURS["failed"])] > 100  # the failed bar (and badges) are red
    assert Recorder.hits == [], "the page loaded %s" % Recorder.hits
