"""What a plan costs: encoder, connector and language-model FLOPs, KV cache, context.

Pure arithmetic on a ``Plan`` and two model sizes (``anyres.plan.sizes``). FLOPs are
matrix-multiply FLOPs, 2 per multiply-add, the convention of
``torch.utils.flop_counter.FlopCounterMode`` (convolutions, linear layers, batched
matmuls and attention; norms, activations, pooling and softmax are not counted).

Encoder, per layer, for a view of ``n`` sequence positions (patches plus CLS), width
``d``, MLP width ``i``:

- ``qkv``: the q, k, v and output projections, ``8 n d^2``;
- ``attention``: scores and weighted sum, ``4 n^2 d`` (each view attends within itself,
  whether views are batched or packed block-diagonally; a windowed tower counts
  ``4 w^2 d`` per window in its windowed layers);
- ``mlp``: ``4 n d i`` (``6 n d i`` for a gated SwiGLU MLP);
- ``patch_embed``: once, ``2 * patches * (channels * temporal * patch^2) * d``.

Language model, for the image's ``T`` prompt positions (``len(plan.layout)``: its
visual tokens and any wrapper text tokens): per layer ``2 T d (H + 2 KV + H) hd`` for
the projections, ``4 T^2 H hd`` for attention among the image's own positions (dense,
as SDPA's count), ``4 T d i`` (``6 T d i`` gated) for the MLP. The KV cache holds
``2 * layers * KV * hd * T`` values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import SpecError
from .sizes import EncoderSize, LLMSize, encoder_size, llm_size, preset_model

DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2, "half": 2,
               "float8": 1, "fp8": 1, "int8": 1, "int4": 0.5}


@dataclass(frozen=True)
class EncoderFlops:
    patch_embed: int = 0
    qkv: int = 0  # q, k, v and output projections
    attention: int = 0  # scores and weighted sum: the term quadratic in a view's length
    mlp: int = 0

    @property
    def total(self) -> int:
        return self.patch_embed + self.qkv + self.attention + self.mlp

    def __add__(self, other: "EncoderFlops") -> "EncoderFlops":
        return EncoderFlops(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))


@dataclass(frozen=True)
class Cost:
    """The cost of one plan. FLOPs are 0 for a side whose model size was not given."""

    visual_tokens: int
    prompt_tokens: int
    encoder_flops: EncoderFlops
    connector_flops: int
    llm_prefill_flops: int
    kv_cache_bytes: float
    context_share: float | None  # prompt_tokens / context

    @property
    def total_flops(self) -> int:
        return self.encoder_flops.total + self.connector_flops + self.llm_prefill_flops

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["encoder_flops"]["total"] = self.encoder_flops.total
        out["total_flops"] = self.total_flops
        return out


def view_flops(e: EncoderSize, width_px: int, height_px: int) -> EncoderFlops:
    """The encoder FLOPs of one view of ``width_px`` x ``height_px`` encoder pixels."""
    gh, gw = height_px // e.patch, width_px // e.patch
    patches = gh * gw
    n = patches + e.cls
    d = e.width
    patch_embed = 2 * patches * e.channels * e.temporal_patch * e.patch * e.patch * d
    qkv = e.layers * 8 * n * d * d
    mlp = e.layers * (6 if e.gated else 4) * n * d * e.intermediate
    full = n * n
    if e.window:
        windowed = sum(a * a for a in window_lengths(e, gh, gw))
        full_layers = sum(1 for i in e.full_layers if i < e.layers)
        squares = full_layers * full + (e.layers - full_layers) * windowed
    else:
        squares = e.layers * full
    return EncoderFlops(patch_embed, qkv, 4 * squares * d, mlp)


def window_lengths(e: EncoderSize, gh: int, gw: int) -> list[int]:
    """Patches per attention window of a windowed tower (Qwen2.5-VL): windows of
    ``window // patch`` patches a side laid on the merge-unit grid from its top left,
    the last row and column of windows cut by the grid's edge."""
    unit = e.merge
    side = max(1, e.window // e.patch // unit)  # window side in merge units
    uh, uw = gh // unit, gw // unit
    rows = [min(side, uh - r) for r in range(0, uh, side)]
    cols = [min(side, uw - c) for c in range(0, uw, side)]
    return [r * c * unit * unit for r in rows for c in cols]


def encoder_flops(plan: Any, encoder: Any) -> EncoderFlops:
    """Every view of ``plan`` through ``encoder`` (each view attends within itself)."""
    e = encoder_size(encoder)
    total = EncoderFlops()
    known: dict[tuple[int, int], EncoderFlops] = {}
    for v in plan.views:
        key = (v.size.width, v.size.height)
        if key not in known:
            known[key] = view_flops(e, *key)
        total = total + known[key]
    return total


def _projector_flops(kind: str, rows: int, width_in: int, width_out: int) -> int:
    if kind == "none" or width_out == 0:
        return 0
    if kind in ("linear", "linear_nobias", "gemma_rms_linear", "identity"):
        return 0 if kind == "identity" else 2 * rows * width_in * width_out
    if kind == "auto" and width_in == width_out:
        return 0
    return 2 * rows * (width_in * width_out + width_out * width_out)  # two-layer MLP (mlp2x_gelu, norm_mlp)


def connector_flops(plan: Any, encoder: Any = None, llm: Any = None) -> int:
    """The token stage's matmul FLOPs: the projector (on the rows the reference projects),
    Qwen2-VL's or Mistral 3's merger, a resampler's cross-attention; 0 without an encoder size."""
    if encoder is None:
        return 0
    e = encoder_size(encoder)
    out = llm_size(llm).width if llm is not None else 0
    c = plan.connector
    d = e.width
    after = plan
    plan = plan.unreduced or plan  # the connector runs before the reducers
    from .reducers import reducer_flops

    reduced = reducer_flops(after, out or d)
    if c.kind == "patch-merger":
        rows = sum(v.tokens for v in plan.views)
        wide = d * c.factor * c.factor
        if c.factor not in c.tower_merges:  # the token stage's merger (Mistral 3): one linear back to d, the projector
            return reduced + 2 * rows * wide * d + _projector_flops(c.projector, rows, d, out)
        return reduced + 2 * rows * wide * wide + 2 * rows * wide * (e.merger_out or out or d)
    if c.kind == "resampler":
        width = out or d
        total = 0
        for v in plan.views:
            if not v.tokens:
                continue
            n = (v.size.height // e.patch) * (v.size.width // e.patch)
            q = v.tokens
            total += (2 * n * d * width if d != width else 0) + 4 * n * width * width  # kv_proj, k and v
            total += 2 * q * width * width * 3 + 4 * q * n * width  # q, out, proj; attention
        return reduced + total
    if c.kind == "unpad-newline":  # LLaVA projects every view's features, then unpads
        rows = sum((v.size.height // e.patch) * (v.size.width // e.patch) for v in plan.views)
        rows += c.keep_cls
    else:
        rows = plan.num_tokens - plan.newline_tokens
    return reduced + _projector_flops(c.projector, rows, d * c.channels, out)


def llm_prefill_flops(tokens: int, llm: Any) -> int:
    m = llm_size(llm)
    hd = m.head
    proj = 2 * tokens * m.width * (2 * m.heads + 2 * m.kv_heads) * hd
    attn = 4 * tokens * tokens * m.heads * hd
    mlp = (6 if m.gated else 4) * tokens * m.width * m.intermediate
    return m.layers * (proj + attn + mlp)


def kv_cache_bytes(tokens: int, llm: Any, dtype: str | int | float = "bfloat16") -> float:
    m = llm_size(llm)
    return 2 * m.layers * m.kv_heads * m.head * tokens * _bytes(dtype)


def _bytes(dtype: Any) -> float:
    if isinstance(dtype, (int, float)) and not isinstance(dtype, bool) and dtype > 0:
        return dtype
    name = str(dtype).replace("torch.", "")
    if name not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)} (or bytes per value)")
    return DTYPE_BYTES[name]


def cost(plan: Any, encoder: Any = None, llm: Any = None, context: int | None = None,
         dtype: str | int | float = "bfloat16") -> Cost:
    """The ``Cost`` of ``plan``; ``encoder`` and ``llm`` are names (``anyres.plan.sizes``;
    ``"auto"``: the preset's own, ``PRESET_MODELS``), transformers configs or folders;
    each is optional, as is ``context``."""
    encoder = preset_model(plan.preset, "encoder", encoder)
    llm = preset_model(plan.preset, "llm", llm)
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise SpecError(f"context must be a positive number of tokens, got {context!r}")
    prompt = len(plan.layout)
    enc = encoder_flops(plan, encoder) if encoder is not None else EncoderFlops()
    return Cost(
        visual_tokens=plan.num_tokens,
        prompt_tokens=prompt,
        encoder_flops=enc,
        connector_flops=connector_flops(plan, encoder, llm),
        llm_prefill_flops=llm_prefill_flops(prompt, llm) if llm is not None else 0,
        kv_cache_bytes=kv_cache_bytes(prompt, llm, dtype) if llm is not None else 0,
        context_share=prompt / context if context else None,
    )


def worst_case(spec: str, **overrides: Any) -> tuple[int, Any]:
    """(the most prompt positions one image can take under ``spec``, the smallest image
    size found that takes them): what a serving engine reserves per image. Searched over
    the preset's own pinpoints and canvas sizes, the factorisations of its pixel cap, and
    a geometric grid of sides from 16 to 8192 px at every aspect ratio."""
    from . import plan as make_plan
    from .registry import resolve
    from ..errors import PlanError

    _, params, _ = resolve(spec, **overrides)
    sides = sorted({round(16 * 2 ** (k / 6)) for k in range(55)})
    sizes = {(w, h) for w in sides for h in sides}
    for pin in params.get("image_grid_pinpoints") or ():
        sizes.add((pin[1], pin[0]))
    cap = params.get("max_pixels")
    factor = params.get("patch_size", 14) * params.get("merge_size", 1)
    if isinstance(cap, int) and factor:
        for w in range(factor, int(math.isqrt(cap * 200)) + 1, factor):
            sizes.add((w, max(1, cap // w)))
    best = (-1, None)
    for w, h in sorted(sizes, key=lambda s: (s[0] * s[1], s)):
        try:
            p = make_plan((w, h), spec, **overrides)
        except PlanError:
            continue
        n = len(p.layout)
        if n > best[0]:
            best = (n, p.image)
    if best[1] is None:
        raise SpecError(f"{spec}: no image size could be planned")
    return best
