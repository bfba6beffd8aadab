"""The fast path's torch resize (anyres.pixels.fast._resize): one axis a call into numpy
memory, the same bits as torch's own ``interpolate(..., antialias=True)`` in the same
pass order."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyres.pixels import fast
from anyres.pixels.resample import horizontal_first


def _interpolate_in_pillows_order(t, w: int, h: int, mode: str):
    """The peer: ``interpolate`` itself, its two passes split only where Pillow (and so
    ``_resize``) runs the height first."""
    interpolate = torch.nn.functional.interpolate
    height, width = t.shape[-2:]
    if h != height and w != width and not horizontal_first(width, height, w, h):
        t = interpolate(t, size=(h, width), mode=mode, antialias=True).contiguous(memory_format=torch.channels_last)
    return interpolate(t, size=(h, w), mode=mode, antialias=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    out_h=st.integers(1, 400),
    out_w=st.integers(1, 400),
    channels=st.sampled_from([3, 4]),
    mode=st.sampled_from(["bicubic", "bilinear"]),
    crop=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_resize_equals_torch_interpolate(height, width, out_h, out_w, channels, mode, crop, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height + 7, width + 5, channels), dtype=np.uint8)
    t = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    # a crop of the image is not channels-last contiguous (the path that copies it first)
    t = t[:, :, 3 : 3 + height, 2 : 2 + width] if crop else t[:, :, :height, :width].contiguous(memory_format=torch.channels_last)
    ours = fast._resize(t, out_w, out_h, mode)
    peer = _interpolate_in_pillows_order(t, out_w, out_h, mode)
    assert ours.shape == (1, channels, out_h, out_w)
    assert ours.is_contiguous(memory_format=torch.channels_last) or (out_h, out_w) == (height, width)
    assert torch.equal(ours, peer)


def test_each_axis_is_one_call_into_numpy_memory(monkeypatch):
    """Two calls for a two-axis resize, in Pillow's order; none for an unchanged size."""
    calls = []
    real = fast._resize_axis

    def spy(t, h, w, mode):
        calls.append((h, w))
        return real(t, h, w, mode)

    monkeypatch.setattr(fast, "_resize_axis", spy)
    t = torch.zeros((1, 4, 600, 800), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    fast._resize(t, 200, 100, "bicubic")
    assert calls == [(600, 200), (100, 200)]  # width first, as Pillow
    calls.clear()
    tall = torch.zeros((1, 4, 6000, 800), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    fast._resize(tall, 700, 900, "bilinear")
    assert calls == [(900, 800), (900, 700)]  # height first, as Pillow 13 for a tall shrink
    calls.clear()
    assert fast._resize(t, 800, 600, "bicubic") is t and not calls
