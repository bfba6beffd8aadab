"""VisionPipeline: images in, one ``VisualTokens`` per image out.

    pipe = VisionPipeline.from_preset("llava-next", encoder="path/to/llava-folder")
    [tokens] = pipe([image])
    tokens.embeddings      # (plan.num_tokens, width), in plan.layout order
    tokens.positions       # (plan.num_tokens, 3): (view, row, col); newline rows (-1, r, -1)
    tokens.prompt()        # the placeholder text to splice into the prompt
    tokens.deepstack       # Qwen3-VL: one (num_tokens, width) tensor per DeepStack level

The stages: ``anyres.preprocess`` (plan, render, normalise) -> the encoder over the
views (equal shapes in batches, or every view in one packed sequence with attention
kept inside each view) -> ``anyres.tokens.Assembler`` (compression, unpad, newlines,
resampler, projector) -> ``VisualTokens``. The invariant that holds it together:
``len(tokens.embeddings) == tokens.plan.num_tokens``, what the reference reserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .errors import ShapeError, SpecError
from .layers import LayerRegistry
from .plan import Layout, Plan, resolve
from .tokens import Assembler, VisualSequence

# weights a VLM checkpoint may hold for the token stage (Assembler.load_reference)
LAYOUT_MODULES = ("image_newline", "multi_modal_projector", "mm_projector", "mlp1", "connector", "resampler")


@dataclass(frozen=True, eq=False)
class VisualTokens:
    """The visual tokens of one image."""

    embeddings: torch.Tensor  # (num_tokens, width)
    positions: torch.Tensor  # (num_tokens, 3) int64: (view, row, col), see anyres.tokens.sequence
    kind: torch.Tensor  # (num_tokens,) int8: 0 visual, 1 newline embedding
    plan: Plan
    # one tensor per DeepStack level of the tower (Qwen3-VL), same rows as embeddings, in
    # the same order: what the language model adds to its early layers' hidden states at
    # the image's positions; empty for towers without DeepStack
    deepstack: tuple[torch.Tensor, ...] = ()

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def layout(self) -> Layout:
        return self.plan.layout

    def prompt(self) -> str:
        """The placeholder string the prompt needs for this image (wrappers included)."""
        return self.plan.layout.text()

    def position_ids(self, start: int = 0, *, v2pe: float | None = None) -> torch.Tensor:
        """Rotary position ids of the image's layout when it starts at ``start``:
        Qwen2-VL's M-RoPE (3, len(layout)) for native presets, else 1-D (1, len).

        ``v2pe=delta`` (0 < delta <= 1): InternVL's V2PE (variable visual position
        encoding), 1-D float32 ids where each visual position advances by ``delta``
        instead of 1 (``anyres.tokens.v2pe``; InternVL's ``rope_pos_id_stride`` s with
        256 tokens a tile is ``delta = s / 256``)."""
        n = len(self.plan.layout)
        if v2pe is not None:
            if self.plan.connector.position_ids == "mrope":
                raise SpecError(f"{self.plan.spec}: V2PE replaces 1-D rotary ids; this preset's language model "
                                "uses M-RoPE (3-D ids)")
            from .tokens.v2pe import v2pe_position_ids

            return v2pe_position_ids(self.plan.layout, v2pe, start)[None]
        if self.plan.connector.position_ids != "mrope":
            return torch.arange(start, start + n).unsqueeze(0)
        if self.plan.reducers:
            return self._reduced_position_ids(start)
        from .plan.types import VISUAL
        from .tokens.mrope import mrope_position_ids

        # the layout's text segments (a preset's vision wrappers) count up on all three axes
        grid = tuple(self.plan.info["grid_thw"])
        spans = [grid if seg.kind == VISUAL else seg.count for seg in self.plan.layout.segments]
        ids, _ = mrope_position_ids(spans, self.plan.connector.factor)
        return ids + start

    def _reduced_position_ids(self, start: int) -> torch.Tensor:
        """M-RoPE ids of a reduced plan: each kept token at its own cell (0, row, col) of
        the image block (a summary row at the block's largest cell); the layout's text
        segments count up on all three axes, and text after the block resumes past its
        largest id, as for an unreduced image."""
        from .plan.types import TEXT

        cells = self.positions[:, 1:].clamp(min=0)
        cells[self.positions[:, 1] < 0] = cells.max(dim=0).values if len(cells) else 0
        rows = torch.cat([torch.zeros(1, len(cells), dtype=torch.int64), cells.T])
        out, pos, taken, block = [], start, 0, None
        for seg in self.plan.layout.segments:
            if seg.kind == TEXT:
                if block is not None:  # the image block ended: resume past its largest id
                    pos, block = int(block) + 1, None
                out.append(torch.arange(pos, pos + seg.count, dtype=torch.int64).expand(3, -1))
                pos += seg.count
                continue
            chunk = rows[:, taken : taken + seg.count] + pos
            taken += seg.count
            if chunk.numel():
                block = max(int(chunk.max()), -1 if block is None else block)
            out.append(chunk)
        return torch.cat(out, dim=1) if out else torch.zeros(3, 0, dtype=torch.int64)


class VisionPipeline:
    """A preset, an encoder and the token stage that go together."""

    def __init__(self, spec: str, encoder: torch.nn.Module, assembler: Assembler, *, exact: bool = True,
                 num_workers: int = 0, packing: str = "auto", max_patches: int = 65536) -> None:
        if packing not in ("auto", "groups", "packed", "single"):
            raise SpecError(f"packing must be 'auto', 'groups', 'packed' or 'single', got {packing!r}")
        self.spec, self.encoder, self.assembler = spec, encoder, assembler
        from .workers import check_workers

        self.exact, self.num_workers, self.packing, self.max_patches = exact, check_workers(num_workers), packing, max_patches
        check_compatible(spec, encoder)

    @classmethod
    def from_preset(cls, spec: str, encoder: Any, projector: str | None = None, *, out_width: int | None = None,
                    feature_layer: int | None = None, dtype: torch.dtype = torch.float32, allow_pickle: bool = False,
                    load_layout: bool = True, seed: int = 0, **options: Any) -> "VisionPipeline":
        """``encoder``: a model folder (transformers layout) or a loaded ``VisionEncoder``.
        ``projector``: the token stage's projector kind (``"mlp2x_gelu"``, ``"linear"``,
        ...; default: the preset's own), to ``out_width`` (default: the checkpoint's
        language width when it holds a projector, else the encoder's width). With
        ``load_layout`` the learned token-stage weights (image_newline, projector,
        connector, resampler) are loaded from the folder when it holds them; otherwise
        they are randomly initialised from ``seed``. ``options``: ``exact``,
        ``num_workers``, ``packing``, ``max_patches``."""
        folder = None
        if isinstance(encoder, (str, Path)):
            from .encode import load_encoder

            folder = Path(encoder)
            encoder = load_encoder(folder, feature_layer=feature_layer, dtype=dtype, allow_pickle=allow_pickle)
        _, params, _ = resolve(spec)
        check_compatible(spec, encoder)  # before the token stage reads the folder's connector weights
        state = _layout_state(folder, allow_pickle) if (folder is not None and load_layout) else {}
        if out_width is None and state:
            out_width = _language_width(folder)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
            torch.manual_seed(seed)
            assembler = Assembler.for_plan(spec, encoder.hidden_size, out_width, projector=projector or "auto",
                                           prefix_tokens=int(encoder.has_cls))
        if state:
            from .encode.checkpoint import read_config

            assembler.load_reference(state, read_config(folder), str(folder / "config.json"))
        assembler = assembler.to(dtype).eval()
        return cls(spec, encoder, assembler, **options)

    def to(self, *args: Any, **kwargs: Any) -> "VisionPipeline":
        """Move the encoder and the token stage together (``torch.nn.Module.to``'s
        arguments: a device, a dtype, or both); the pixels follow the encoder's weights,
        so nothing else changes for the caller. Returns the pipeline."""
        self.encoder.to(*args, **kwargs)
        self.assembler.to(*args, **kwargs)
        return self

    # ---------------------------------------------------------------- running
    def __call__(self, images: Any, *, on_error: str = "raise") -> list[Any]:
        """One ``VisualTokens`` per image. With ``on_error="skip"`` an input that is
        refused (``ImageError``, ``PlanError``) gives its error in its place."""
        from .pixels import preprocess

        if not isinstance(images, (list, tuple)):
            images = [images]
        batch = preprocess(images, self.spec, return_tensors="pt", exact=self.exact, num_workers=self.num_workers,
                           on_error=on_error)
        tokens = self.encode_batch(batch)
        out: list[Any] = [None] * len(images)
        for i, t in zip(batch.indices, tokens):
            out[i] = t
        for i, err in batch.errors:
            out[i] = err
        return out

    @torch.inference_mode()
    def encode_batch(self, batch: Any) -> list[VisualTokens]:
        """The token stage for a ``PixelBatch`` (``preprocess(..., return_tensors="pt")``):
        each shape group goes through the encoder as slices of its own tensor."""
        groups = [(g.pixel_values, g.index) for g in batch.groups.values()]
        n_views = sum(len(idx) for _, idx in groups)
        if self._mode(n_views, len(groups)) == "packed":
            return self.encode_views(batch.plans, batch.views)
        return self._assemble(batch.plans, self._group_features(groups))

    @torch.inference_mode()
    def encode_views(self, plans: Sequence[Plan], views: Sequence[Sequence[torch.Tensor]]) -> list[VisualTokens]:
        """The token stage for plans whose views are given as normalised (3, H, W)
        tensors (``views[i][j]`` is view j of plan i)."""
        by_shape: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i, vs in enumerate(views):
            for j, v in enumerate(vs):
                by_shape.setdefault(tuple(v.shape[-2:]), []).append((i, j))
        n_views = sum(len(idx) for idx in by_shape.values())
        if self._mode(n_views, len(by_shape)) == "packed":
            keys = [k for idx in by_shape.values() for k in idx]
            feats = dict(zip(keys, self._packed_features([views[i][j] for i, j in keys])))
        else:
            stacked = [(torch.stack([views[i][j] for i, j in idx]), idx) for idx in by_shape.values()]
            feats = self._group_features(stacked)
        return self._assemble(plans, feats)

    def _assemble(self, plans: Sequence[Plan], feats: dict[tuple[int, int], Any]) -> list[VisualTokens]:
        """``feats[i, j]``: view j of plan i's features, or a ``DeepstackOutput``
        (features, levels) from a DeepStack tower."""
        out = []
        for i, p in enumerate(plans):
            per_view = [feats[i, j] for j in range(len(p.views))]
            levels: tuple[torch.Tensor, ...] = ()
            if per_view and hasattr(per_view[0], "deepstack"):
                levels = _deepstack_rows(p, per_view)
                per_view = [f.features for f in per_view]
            seq: VisualSequence = self.assembler(p, per_view)
            if levels and levels[0].shape[0] != seq.embeddings.shape[0]:
                raise ShapeError(f"{p.spec}: the DeepStack levels have {levels[0].shape[0]} rows, the tokens "
                                 f"{seq.embeddings.shape[0]}: the token stage changed the rows of a DeepStack tower")
            out.append(VisualTokens(seq.embeddings, seq.positions, seq.kind, p, levels))
        return out

    def _deepstack(self) -> dict[str, bool]:
        """``deepstack=True`` for the encoder calls of a tower with DeepStack levels."""
        return {"deepstack": True} if getattr(self.encoder, "deepstack_levels", 0) else {}

    def _mode(self, n_views: int, n_shapes: int) -> str:
        if self.packing != "auto":
            return self.packing
        # merging towers pack; others batch equal shapes, or pack when shapes rarely repeat
        return "packed" if self.encoder.merge_size > 1 or n_views < 2 * n_shapes else "groups"

    def _group_features(self, groups: Sequence[tuple[torch.Tensor, list]]) -> dict:
        """{key: features} for groups of equal-shape views (n, 3, H, W), in slices of at
        most ``max_patches`` patches (one view a slice with packing="single")."""
        enc = self.encoder
        weight = next(enc.parameters())
        out = {}
        for pixels, keys in groups:
            patches = (pixels.shape[-2] // enc.patch_size) * (pixels.shape[-1] // enc.patch_size)
            per = 1 if self.packing == "single" else max(1, self.max_patches // max(1, patches))
            for s in range(0, len(keys), per):
                res = enc.forward_features(pixels[s : s + per].to(weight.device, weight.dtype),
                                           keep_cls=bool(enc.has_cls), **self._deepstack())
                if hasattr(res, "deepstack"):  # DeepstackOutput over the batch: one per view
                    res = [type(res)(f, tuple(level[k] for level in res.deepstack)) for k, f in enumerate(res.features)]
                out.update(zip(keys[s : s + per], res))
        return out

    def _packed_features(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every view in packed sequences of at most ``max_patches`` patches."""
        enc = self.encoder
        weight = next(enc.parameters())
        out: list[torch.Tensor] = []
        start = 0
        while start < len(views):
            end, patches = start, 0
            while end < len(views):
                n = (views[end].shape[-2] // enc.patch_size) * (views[end].shape[-1] // enc.patch_size)
                if end > start and patches + n > self.max_patches:
                    break
                patches, end = patches + n, end + 1
            out += enc.forward_views([v.to(weight.device, weight.dtype) for v in views[start:end]],
                                     keep_cls=bool(enc.has_cls), **self._deepstack())
            start = end
        return out


def _deepstack_rows(plan: Plan, per_view: Sequence[Any]) -> tuple[torch.Tensor, ...]:
    """Each DeepStack level of a plan's views, in view order (a DeepStack tower merges
    inside itself, so its presets' token stage keeps each view's rows as they are)."""
    counts = {len(f.deepstack) for f in per_view}
    if len(counts) != 1:
        raise ShapeError(f"{plan.spec}: the views came back with different numbers of DeepStack levels {sorted(counts)}")
    n = counts.pop()
    return tuple(torch.cat([f.deepstack[k] for f in per_view]) for k in range(n))


def save_tokens(path: str | Path, names: Sequence[str], tokens: Sequence[VisualTokens]) -> None:
    """One safetensors file: ``image{k}.embeddings``, ``.positions`` and ``.kind`` per
    image; the metadata ``images`` (JSON) lists each image's name, spec, size, grid,
    token count and prompt placeholder text."""
    import json

    from safetensors.torch import save_file

    tensors, meta = {}, []
    for k, (name, t) in enumerate(zip(names, tokens)):
        tensors[f"image{k}.embeddings"] = t.embeddings.detach().contiguous()
        tensors[f"image{k}.positions"] = t.positions.contiguous()
        tensors[f"image{k}.kind"] = t.kind.contiguous()
        meta.append({"name": str(name), "spec": t.plan.spec, "size": list(t.plan.image),
                     "grid": list(t.plan.grid) if t.plan.grid else None, "num_tokens": len(t),
                     "prompt": t.prompt()})
    save_file(tensors, str(path), metadata={"format": "anyres-tokens-1", "images": json.dumps(meta)})


def check_compatible(spec: str, encoder: torch.nn.Module) -> None:
    """The preset's token counts assume the encoder's patch (and merge) size: the check
    registered for its strategy in ``ENCODER_CHECKS`` says whether this tower fits."""
    from .plan import preset_connector

    preset, params, _ = resolve(spec)
    ENCODER_CHECKS.get(preset.strategy)(spec, preset.name, params, preset_connector(spec), encoder)


def check_tower(spec: str, name: str, params: Any, c: Any, encoder: torch.nn.Module) -> None:
    """The tower merges as the connector allows, and cuts the patches it counts."""
    merge = getattr(encoder, "merge_size", 1)
    if merge not in c.tower_merges:
        if c.tower_merges == (1,):
            raise SpecError(
                f"{spec}: a merging {encoder.family} tower ({merge}x{merge}) only serves native presets such as "
                "qwen2-vl, whose token counts include the tower's merge"
            )
        k = max(c.tower_merges)
        raise SpecError(
            f"{spec}: the preset counts tokens after a {k}x{k} merge by the tower; this {encoder.family} encoder "
            f"merges {merge}x{merge} (use a Qwen2-VL tower, or another that merges {k}x{k})"
        )
    if c.patch_size != encoder.patch_size:
        raise SpecError(
            f"{spec}: the preset counts tokens for {c.patch_size} px patches, the {encoder.family} encoder has "
            f"{encoder.patch_size} px patches: use '{name}(patch_size={encoder.patch_size})' or another encoder"
        )


def check_budget_tower(spec: str, name: str, params: Any, c: Any, encoder: torch.nn.Module) -> None:
    """The budget planner picks a merge per image: a merging tower serves it only when
    the planner may choose that merge alone."""
    merge = getattr(encoder, "merge_size", 1)
    if merge not in c.tower_merges:
        raise SpecError(
            f"{spec}: a {encoder.family} tower merges {merge}x{merge}, the planner may choose merges "
            f"{tuple(params['merges'])}: use 'budget(merges=({merge},), ...)' or a merge-free tower"
        )
    check_tower(spec, name, params, c, encoder)


ENCODER_CHECKS: LayerRegistry[Callable] = LayerRegistry(
    "pipeline encoder check", "anyres.pipeline.ENCODER_CHECKS.register(strategy, check)"
)
for _name in ("fixed", "fixed-pad", "fixed-crop", "dynamic", "anyres", "internvl", "native", "idefics3", "slicing",
              "gpt4v", "s2"):
    ENCODER_CHECKS.register(_name, check_tower)
ENCODER_CHECKS.register("budget", check_budget_tower)


def _layout_state(folder: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """The token-stage tensors of a VLM folder (empty for a bare vision tower)."""
    from .encode.checkpoint import Checkpoint

    ckpt = Checkpoint(folder, allow_pickle=allow_pickle)
    keys = [k for k in ckpt.keys if any(k == m or k.startswith(m + ".") or f".{m}." in k or k.endswith("." + m)
                                        for m in LAYOUT_MODULES)]
    return ckpt.load(keys) if keys else {}


def _language_width(folder: Path) -> int | None:
    from .encode.checkpoint import read_config

    cfg = read_config(folder)
    text = cfg.get("text_config") or {}
    return text.get("hidden_size") or cfg.get("hidden_size")


__all__ = ["ENCODER_CHECKS", "VisionPipeline", "VisualTokens", "check_compatible", "check_tower", "save_tokens"]

# Gemma 3 and Pixtral / Mistral3: the tower cuts the connector's patch (Mistral3's needs a
# tower that applies its 2x2 patch merger, as the connector's tower_merges says)
ENCODER_CHECKS.register("pan-and-scan", check_tower)
ENCODER_CHECKS.register("pixtral", check_tower)

# Mllama feeds cross-attention layers, not prompt positions; Llama 4 runs any tower that
# cuts its 14 px patches (the pixel shuffle is the token stage's)
ENCODER_CHECKS.unsupported(
    "mllama",
    "Mllama's tokens are cross-attention states (tiles x (patches + 1)), not prompt embeddings; "
    "VisionPipeline emits prompt embeddings",
)
ENCODER_CHECKS.register("llama4", check_tower)
ENCODER_CHECKS.register("gemma4", check_tower)  # Gemma 4: a tower that cuts 16 px patches

# --- Idefics2 and SigLIP2 NaFlex (fam-idefics) ---
for _name in ("idefics2", "naflex"):
    ENCODER_CHECKS.register(_name, check_tower)

# --- Aria (fam-idefics) ---
ENCODER_CHECKS.register("aria", check_tower)

# --- Ovis2 (families) ---
ENCODER_CHECKS.register("ovis2", check_tower)

# --- MiniCPM-V 4.6 (families) ---
ENCODER_CHECKS.register("minicpm-v-4.6", check_tower)

# --- HunYuan-VL (families) ---
ENCODER_CHECKS.register("hunyuan-vl", check_tower)

# --- DeepSeek-OCR 2 (families) ---
ENCODER_CHECKS.register("deepseek-ocr2", check_tower)

# --- DeepSeek-VL and Janus (families) ---
ENCODER_CHECKS.register("deepseek-vl", check_tower)
