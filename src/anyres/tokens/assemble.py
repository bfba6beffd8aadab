"""Assembly: the stage after the encoder. View features -> the plan's visual sequence.

``assemble(plan, view_features, modules)``: ``view_features`` has one tensor per
``plan.views`` entry, in order, each (n_i, d) in row-major patch order for the view's
(size.height // patch, size.width // patch) grid. Leading non-patch rows (CLS) may
precede the grid: ``prefix_tokens`` of them (1 by default). Where the plan counts a CLS
token (llava-next with ``feature_select_strategy="full"`` for its base view, fixed
presets with ``keep_cls=True``) they must be there and are kept; elsewhere they are
dropped if present. The ``native`` strategy (qwen2-vl) is different: its encoder merges,
so each entry holds exactly ``view.tokens`` merged tokens in block row-major order.

``modules`` is an ``Assembler``: the learned parts of one preset (image_newline,
projector, pixel-shuffle connector, resamplers), randomly initialised, loadable from a
reference state dict with ``load_reference``. Presets without learned parts (fixed,
fixed-pad, fixed-crop, dynamic, qwen2-vl, s2) may pass ``modules=None``.

The result has exactly ``plan.num_tokens`` rows in ``plan.layout`` order; positions and
kinds follow the conventions of ``anyres.tokens.sequence``. ``token_grid(plan, i)`` is
the grid the (row, col) of view i's tokens live on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ShapeError, SpecError
from . import packing
from .packing import shuffle_factor
from .project import LinearProjector, NormMLPProjector, build_projector, load_projector
from .resampler import Resampler, default_heads
from .sequence import VisualSequence, query_grid
from .weights import find_tensor

FIXED_STRATEGIES = ("fixed", "fixed-pad", "fixed-crop", "dynamic")
RESAMPLER_STRATEGIES = ("slicing", "gpt4v")
NEEDS_MODULES = ("internvl", "idefics3", "slicing", "gpt4v")


def resampler_sizes(strategy: str, params: Mapping[str, Any]) -> tuple[int, ...]:
    if strategy == "slicing":
        return (params["query_num"],)
    return tuple(sorted({params["base_tokens"], params["tile_tokens"]}))


def token_grid(plan, i: int) -> tuple[int, int]:
    """(rows, cols) of the token grid view i's positions live on; (0, 0) for a view
    that contributes no tokens."""
    v = plan.views[i]
    p = plan.params
    if v.tokens == 0:
        return (0, 0)
    if plan.strategy in RESAMPLER_STRATEGIES:
        return query_grid(v.tokens)
    if plan.strategy == "native":
        _, gh, gw = plan.info["grid_thw"]
        return (gh // p["merge_size"], gw // p["merge_size"])
    if plan.strategy == "budget":
        k = plan.info["merge"]
        return (v.size.height // p["patch_size"] // k, v.size.width // p["patch_size"] // k)
    if plan.strategy == "s2":
        side = plan.info["feature_map"][0] // plan.info["splits"][0]
        return (side, side)
    gh, gw = v.size.height // p["patch_size"], v.size.width // p["patch_size"]
    if plan.strategy in ("internvl", "idefics3"):
        f = shuffle_factor(plan.strategy, p)
        return (gh // f, gw // f)
    return (gh, gw)


class Assembler(nn.Module):
    """The learned parts of one preset's token stage, and the assembly that uses them.

    ``width``: the encoder's feature width. ``out_width``: the width of the emitted
    embeddings (default: ``width``, or ``len(scales) * width`` for s2). ``projector``:
    ``"auto"`` (the preset's own: InternVL's LayerNorm-MLP, Idefics3's bias-free Linear,
    else none unless the widths differ, then ``mlp2x_gelu``) or a name of
    ``project.PROJECTORS``. ``patch_size``: the encoder patch (default the preset's, 14
    where it has none, e.g. gpt4v). ``num_heads``: resampler heads (default out_width // 128,
    as MiniCPM-V, fewer when the width is small).
    """

    def __init__(
        self,
        strategy: str,
        params: Mapping[str, Any],
        width: int,
        out_width: int | None = None,
        *,
        projector: str = "auto",
        patch_size: int | None = None,
        prefix_tokens: int = 1,
        num_heads: int | None = None,
    ) -> None:
        super().__init__()
        self.family = "fixed" if strategy in FIXED_STRATEGIES else strategy
        if self.family not in packing.PACKERS:
            raise SpecError(f"no assembly rule for strategy {strategy!r}; known: {', '.join(sorted(packing.PACKERS))}")
        if width < 1 or prefix_tokens < 0:
            raise SpecError(f"width must be positive and prefix_tokens non-negative, got {width}, {prefix_tokens}")
        self.strategy = strategy
        self.params = dict(params)
        self.width = width
        self.patch_size = patch_size or self.params.get("patch_size", 14)
        self.prefix_tokens = prefix_tokens
        self.image_newline: nn.Parameter | None = None
        self.projector: nn.Module | None = None
        self.resamplers: nn.ModuleDict | None = None
        in_width = width * len(self.params["scales"]) if strategy == "s2" else width
        self.out_width = out_width or in_width
        if strategy in ("internvl", "idefics3"):
            f = shuffle_factor(strategy, self.params)
            shuffled = width * f * f
            if projector == "auto" and strategy == "internvl":
                self.projector = NormMLPProjector(shuffled, self.out_width)
            elif projector == "auto":
                self.projector = LinearProjector(shuffled, self.out_width, bias=False)
            else:
                self.projector = build_projector(projector, shuffled, self.out_width)
        elif strategy in RESAMPLER_STRATEGIES:
            if projector not in ("auto", "none"):
                raise SpecError(f"{strategy}: the resampler is the projector; got projector={projector!r}")
            heads = num_heads or default_heads(self.out_width)
            uhd = strategy == "slicing" and self.params["style"] == "llava-uhd"
            pos = dict(pos_mode="interpolate", pos_grid=self.params["scale_resolution"] // self.patch_size) if uhd else {}
            self.resamplers = nn.ModuleDict(
                {str(q): Resampler(q, self.out_width, heads, kv_dim=width, **pos) for q in resampler_sizes(strategy, self.params)}
            )
        else:
            kind = projector if projector != "auto" else ("none" if self.out_width == in_width else "mlp2x_gelu")
            self.projector = build_projector(kind, in_width, self.out_width)
        if strategy == "anyres" and self.params["image_newline"]:
            self.image_newline = nn.Parameter(torch.randn(self.out_width) / self.out_width**0.5)

    @classmethod
    def for_plan(cls, plan_or_preset: Any, width: int, out_width: int | None = None, **options: Any) -> "Assembler":
        """An assembler for a plan's preset, or for a preset name / spec string."""
        from ..plan import Plan, resolve

        if isinstance(plan_or_preset, Plan):
            return cls(plan_or_preset.strategy, plan_or_preset.params, width, out_width, **options)
        preset, params, _ = resolve(plan_or_preset)
        return cls(preset.strategy, params, width, out_width, **options)

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> "Assembler":
        """Load the learned parts from a reference model's state dict: ``image_newline``
        (LlavaNext / LlavaOnevision), the projector (``multi_modal_projector``,
        ``mm_projector``, InternVL ``mlp1``, Idefics3 ``connector``), the resampler
        (MiniCPM-V / LLaVA-UHD ``resampler``)."""
        with torch.no_grad():
            if self.image_newline is not None:
                t = find_tensor(state_dict, "image_newline")
                if t.shape != self.image_newline.shape:
                    raise SpecError(f"image_newline of shape {tuple(t.shape)}, expected {tuple(self.image_newline.shape)}")
                self.image_newline.copy_(t)
            if self.projector is not None:
                load_projector(self.projector, state_dict)
            if self.resamplers is not None:
                if len(self.resamplers) != 1:
                    raise SpecError(f"{self.strategy}: no reference checkpoint holds {len(self.resamplers)} resamplers")
                next(iter(self.resamplers.values())).load_reference(state_dict)
        return self

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.projector is None else self.projector(x)

    def forward(self, plan, view_features: Sequence[torch.Tensor]) -> VisualSequence:
        if plan.strategy != self.strategy:
            raise SpecError(f"an assembler for strategy {self.strategy!r} cannot assemble a {plan.strategy!r} plan")
        if len(view_features) != len(plan.views):
            raise ShapeError(f"{len(view_features)} feature tensors for {len(plan.views)} views")
        for i, x in enumerate(view_features):
            if x.dim() != 2 or x.shape[1] != self.width:
                raise ShapeError(f"view {i}: features must be (n, {self.width}), got {tuple(x.shape)}")
        rows = packing.PACKERS[self.family](self, plan, list(view_features))
        seq = rows.build(self.out_width)
        assert len(seq) == plan.num_tokens, (len(seq), plan.num_tokens)
        return seq

    def split_view(self, plan, i: int, x: torch.Tensor, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(kept prefix rows (keep, d), grid map (gh, gw, d)) of view i's features."""
        v = plan.views[i]
        gh, gw = v.size.height // self.patch_size, v.size.width // self.patch_size
        n = gh * gw
        allowed = (n + keep,) if keep else (n, n + self.prefix_tokens)
        if x.shape[0] not in allowed:
            want = " or ".join(str(a) for a in sorted(set(allowed)))
            raise ShapeError(
                f"view {i} ({v.role}, {v.size.width}x{v.size.height} px, patch {self.patch_size}): "
                f"expected {want} feature rows, got {x.shape[0]}"
            )
        skip = x.shape[0] - n
        return x[:keep], x[skip:].reshape(gh, gw, -1)


def assemble(plan, view_features: Sequence[torch.Tensor], modules: Assembler | None = None) -> VisualSequence:
    """The visual sequence of one plan (module docstring)."""
    if modules is None:
        if plan.strategy in NEEDS_MODULES or (plan.strategy == "anyres" and plan.params["image_newline"]):
            raise SpecError(
                f"preset {plan.preset!r} has learned parts; pass modules=Assembler.for_plan(plan, width) "
                "(random) or one loaded with load_reference"
            )
        if not view_features:
            raise ShapeError("no view features given")
        modules = Assembler.for_plan(plan, view_features[0].shape[-1])
    return modules(plan, view_features)
