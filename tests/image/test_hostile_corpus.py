"""Hostile files (headers that lie, missing rows, thin images under every preset,
16-bit giants, huge comments), each decoded correctly or refused with an AnyresError,
in a subprocess under an address-space cap (RLIMIT_AS) so that a regression fails the
test instead of taking the machine down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")
SRC = str(Path(__file__).resolve().parents[2] / "src")
CAP = 2 << 30  # 2 GiB of address space: numpy + Pillow need ~0.5; a canvas bomb needs far more

SCRIPT = textwrap.dedent(
    r"""
    import io, json, resource, struct, sys, zlib
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    import numpy as np
    from PIL import Image
    import anyres
    from anyres.image import load_image
    from anyres.pixels.execute import render_views

    def png(w, h, rows, depth=8, colour=2):
        ch = {0: 1, 2: 3}[colour] * depth // 8
        raw = b"".join(b"\x00" + b"\x80" * (w * ch) for _ in range(rows))
        def chunk(t, d):
            return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

    def jpeg_lying(w, h):
        b = io.BytesIO(); Image.new("RGB", (16, 16), "red").save(b, "JPEG"); j = bytearray(b.getvalue())
        i = j.index(b"\xff\xc0"); j[i + 5 : i + 9] = struct.pack(">HH", h, w)
        return bytes(j)

    def ico_lying():
        b = io.BytesIO(); Image.new("RGB", (32, 32), "blue").save(b, "ICO"); d = bytearray(b.getvalue())
        return bytes(d[: len(d) - 200])

    cases = {
        "jpeg header 13000x13000": jpeg_lying(13000, 13000),
        "png 1 of 13000 rows": png(13000, 13000, 1),
        "ico truncated": ico_lying(),
        "pgm 10 MB comment": b"P5\n#" + b"x" * 10_000_000 + b"\n4 4\n255\n" + b"\0" * 16,
        "png 16-bit 4000x4000": png(4000, 4000, 4000, 16, 0),
    }
    out = {}
    for label, data in cases.items():
        try:
            im = load_image(data)
            out[label] = "decoded %dx%d" % im.size
        except anyres.AnyresError as e:
            out[label] = "refused " + type(e).__name__
    for size in [(1, 20000), (20000, 1), (1, 100000)]:
        im = Image.new("RGB", size, (200, 30, 30))
        for preset in anyres.plan.presets():
            try:
                p = anyres.plan(im, preset)
                views = render_views(im, p)
                out[f"{size} {preset}"] = "rendered %d" % len(views)
            except anyres.AnyresError as e:
                out[f"{size} {preset}"] = "refused " + type(e).__name__
    print(json.dumps(out))
    """
).replace("CAP", str(CAP))


def test_hostile_corpus_is_decoded_or_refused_under_a_memory_cap():
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["jpeg header 13000x13000"] == "refused ImageError"
    assert out["png 1 of 13000 rows"] == "refused ImageError"
    assert out["ico truncated"] == "refused ImageError"
    assert out["pgm 10 MB comment"] == "refused ImageError"
    assert out["png 16-bit 4000x4000"] == "decoded 4000x4000"
    thin = {k: v for k, v in out.items() if k.startswith("(")}
    assert all(v.startswith(("rendered", "refused PlanError")) for v in thin.values()), thin
    assert thin["(1, 20000) fixed-crop"] == "rendered 1"  # served: the canvas is never built
    assert thin["(1, 100000) fixed-pad"] == "refused PlanError"
