"""Presets without a transformers processor, against their references' formulas:
GPT-4V's documented token cost (and its worked examples), MiniCPM-V's slice_image and
placeholder (its image processor's functions, restated here), LLaVA-UHD's slicing."""

from __future__ import annotations

import math

import pytest

import anyres

from .sizes import sample_sizes

SIZES = sample_sizes(2000, seed=5)


# ---------------------------------------------------------------- GPT-4V / GPT-4o
def gpt4v_tokens(w: int, h: int) -> int:
    """OpenAI's documented cost: fit in 2048x2048, shortest side to 768 (downscaling
    only), 170 per 512 tile plus 85."""
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    w, h = max(1, round(w)), max(1, round(h))
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def test_gpt4v_worked_examples():
    assert anyres.plan((1024, 1024), "gpt4v").num_tokens == 765  # 4 tiles of 512 + 85
    assert anyres.plan((2048, 4096), "gpt4v").num_tokens == 1105  # 1024x2048 -> 768x1536 -> 6 tiles
    assert anyres.plan((4096, 8192), "gpt4v(detail='low')").num_tokens == 85


def test_gpt4v_formula_on_2000_sizes():
    bad = [(w, h) for w, h in SIZES if anyres.plan((w, h), "gpt4v").num_tokens != gpt4v_tokens(w, h)]
    assert not bad, bad[:5]


# ---------------------------------------------------------------- MiniCPM-V 2.6
S, PATCH, MAX_SLICES, QUERIES = 448, 14, 9, 64


def ensure_divide(length, patch):
    return max(round(length / patch) * patch, patch)


def find_best_resize(size, allow_upscale=False):
    width, height = size
    if width * height > S * S or allow_upscale:
        r = width / height
        height = int(S / math.sqrt(r))
        width = int(height * r)
    return ensure_divide(width, PATCH), ensure_divide(height, PATCH)


def sliced_grid(size):
    w, h = size
    log_ratio = math.log(w / h)
    multiple = min(math.ceil(w * h / (S * S)), MAX_SLICES)
    if multiple <= 1:
        return None
    grids = [[m, n // m] for n in (multiple - 1, multiple, multiple + 1) if n != 1 and n <= MAX_SLICES
             for m in range(1, n + 1) if n % m == 0]
    best, err = [1, 1], float("inf")
    for g in grids:
        e = abs(log_ratio - math.log(g[0] / g[1]))
        if e < err:
            best, err = g, e
    return best


def minicpm_reference(w: int, h: int):
    """(grid (cols, rows) or None, source size, slice sizes, placeholder) as MiniCPM-V's
    image processor computes them (slice_image, split_to_patches, get_slice_image_placeholder
    with use_image_id and image index 0)."""
    grid = sliced_grid((w, h))
    unit = "<image>" + "<unk>" * QUERIES + "</image>"
    head = "<image_id>0</image_id>" + unit
    if grid is None:
        return None, find_best_resize((w, h), allow_upscale=True), [], head
    source = find_best_resize((w, h))
    cols, rows = grid
    rw, rh = ensure_divide(w, cols), ensure_divide(h, rows)
    cell = find_best_resize((rw / cols, rh / rows), allow_upscale=True)
    refine = (cell[0] * cols, cell[1] * rows)
    piece = (int(refine[0] / cols), int(refine[1] / rows))
    slices = [piece] * (cols * rows)
    slice_unit = "<slice>" + "<unk>" * QUERIES + "</slice>"
    return grid, source, slices, head + "\n".join(slice_unit * cols for _ in range(rows))


def test_minicpm_v_matches_its_reference_on_2000_sizes():
    bad = []
    for w, h in SIZES:
        grid, source, slices, text = minicpm_reference(w, h)
        p = anyres.plan((w, h), "minicpm-v")
        got_grid = [p.grid[1], p.grid[0]] if p.grid else None
        sizes = [tuple(v.size) for v in p.views]
        if (got_grid, sizes[0], sizes[1:], p.layout.text()) != (grid, tuple(source), slices, text):
            bad.append(((w, h), got_grid, grid, sizes[:2], source))
        assert p.num_tokens == QUERIES * len(p.views)
    assert not bad, bad[:5]


# ---------------------------------------------------------------- LLaVA-UHD
def test_llava_uhd_follows_its_formulas_on_2000_sizes():
    for w, h in SIZES:
        p = anyres.plan((w, h), "llava-uhd")
        n = min(math.ceil(w * h / 336**2), 6)
        if n <= 1:  # as LLaVA-UHD's (and MiniCPM-V's) slice code: no slicing, one view
            assert p.grid is None and len(p.views) == 1
        else:
            rows, cols = p.grid
            assert rows * cols in (n - 1, n, n + 1) and rows * cols <= 6
            score = abs(math.log(cols / rows) - math.log(w / h))  # the partition score
            for m in (n - 1, n, n + 1):
                if m == 1 or m > 6:
                    continue
                for c in range(1, m + 1):
                    if m % c == 0:
                        assert score <= abs(math.log(c / (m // c)) - math.log(w / h)) + 1e-12, ((w, h), (c, m // c))
            assert p.views[0].role == "base" and len(p.views) == rows * cols + 1  # overview + slices
            xs = sorted({v.source.left for v in p.views[1:]} | {float(w)})
            assert all(float(x).is_integer() for x in xs)  # slices cut at integer pixels
            layout = p.layout.text()
            assert layout.count(",") == rows * (cols - 1) and layout.count("\n") == rows + 1
        for v in p.views:
            gw, gh = v.size.width // 14, v.size.height // 14
            assert v.size.width % 14 == 0 and v.size.height % 14 == 0 and gw * gh <= 576  # adapt_size
            assert v.tokens == 64
            sw, sh = v.source.width, v.source.height
            if min(576 * sw / sh, 576 * sh / sw) >= 4:  # not an extreme strip: aspect kept to a patch
                assert abs(gw / gh - sw / sh) <= max(1 / gh, (gw / gh) / gh) + 1e-9 or abs(gh / gw - sh / sw) <= 1 / gw + 1e-9


@pytest.mark.parametrize("preset", ["minicpm-v", "llava-uhd", "gpt4v"])
def test_the_presets_refuse_nothing_in_range(preset):
    for w, h in SIZES[:200]:
        assert anyres.plan((w, h), preset).num_tokens > 0
