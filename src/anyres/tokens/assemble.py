"""Assembly: the stage after the encoder. View features -> the plan's visual sequence.

``assemble(plan, view_features, modules)``: ``view_features`` has one tensor per
``plan.views`` entry, in order, each (n_i, d) in row-major patch order for the view's
``features`` grid (``plan.views[i].features``). Leading non-patch rows (CLS) may precede
the grid: ``prefix_tokens`` of them (1 by default). Where the plan keeps a CLS token
(``plan.connector.keep_cls``: llava-next with ``feature_select_strategy="full"`` for
its base view, fixed presets with ``keep_cls=True``) it must be there and is kept;
elsewhere it is dropped if present. A tower that merges patches itself (Qwen2-VL) gives
exactly ``view.tokens`` merged tokens a view, in block row-major order.

``modules`` is an ``Assembler``: the learned parts of one preset's token stage
(image_newline, projector, pixel-shuffle connector, resamplers), built from the plan's
``Connector``, randomly initialised, loadable from a reference state dict with
``load_reference``. Presets without learned token-stage parts may pass ``modules=None``.

The result has exactly ``plan.num_tokens`` rows in ``plan.layout`` order; positions and
kinds follow the conventions of ``anyres.tokens.sequence``; ``(row, col)`` of view i's
tokens are cells of ``plan.views[i].token_grid``. The rule that orders them is the
strategy's entry in ``anyres.tokens.packing.ASSEMBLY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ShapeError, SpecError
from ..plan.connector import Connector
from .packing import ASSEMBLY
from .merger import SpatialMerger
from .project import build_projector, load_projector
from .resampler import Resampler, default_heads
from .sequence import VisualSequence
from .weights import find_tensor




def token_grid(plan, i: int) -> tuple[int, int]:
    """(rows, cols) of the token grid view i's positions live on; (0, 0) for a view
    that contributes no tokens (``plan.views[i].token_grid``)."""
    return plan.views[i].token_grid


# kinds whose ``learned=True`` means a learned newline embedding: LLaVA-NeXT's unpadded map,
# and pooled views with learned layout embeddings (HunYuan-VL's row newlines, begin and end;
# DeepSeek-OCR 2's view separator)
NEWLINE_KINDS = ("unpad-newline", "pool")


def has_learned_parts(c: Connector) -> bool:
    """True when the token stage of a plan with this connector has weights of its own."""
    return c.kind == "resampler" or (c.kind in NEWLINE_KINDS and c.learned) or c.projector != "auto"


class Assembler(nn.Module):
    """The learned parts of one preset's token stage, and the assembly that uses them.

    ``strategy`` names the assembly rule; ``connector`` (the plan's) says which parts
    there are. ``width``: the encoder's feature width. ``out_width``: the width of the
    emitted embeddings (default: ``width``; ``factor * width`` for S2's channel concatenation).
    ``projector``: ``"auto"`` (the connector's own: InternVL's LayerNorm-MLP, Idefics3's
    bias-free Linear, else none unless the widths differ, then ``mlp2x_gelu``) or a name
    of ``project.PROJECTORS``. ``num_heads``: resampler heads (default out_width // 128,
    as MiniCPM-V, fewer when the width is small).
    """

    def __init__(
        self,
        strategy: str,
        connector: Connector,
        width: int,
        out_width: int | None = None,
        *,
        projector: str = "auto",
        prefix_tokens: int = 1,
        num_heads: int | None = None,
    ) -> None:
        super().__init__()
        self.rule = ASSEMBLY.get(strategy)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise SpecError(f"width must be a positive integer, got {width!r}")
        if out_width is not None and (isinstance(out_width, bool) or not isinstance(out_width, int) or out_width < 1):
            raise SpecError(f"out_width must be a positive integer, got {out_width!r}")
        if isinstance(prefix_tokens, bool) or not isinstance(prefix_tokens, int) or prefix_tokens < 0:
            raise SpecError(f"prefix_tokens must be a non-negative integer, got {prefix_tokens!r}")
        self.strategy = strategy
        self.connector = connector
        self.width = width
        self.patch_size = connector.patch_size
        self.prefix_tokens = prefix_tokens
        self.image_newline: nn.Parameter | None = None
        self.projector: nn.Module | None = None
        self.resamplers: nn.ModuleDict | None = None
        # a learned k x k merge that no tower applies: the token stage's (Mistral 3)
        self.merger: SpatialMerger | None = None
        if connector.kind == "patch-merger" and connector.factor not in connector.tower_merges:
            self.merger = SpatialMerger(width, connector.factor)
        in_width = width * connector.channels
        # by default the tokens keep the encoder's width (a projector maps a pixel shuffle
        # back to it); S2's channel concatenation has no projector to do so
        self.out_width = out_width or (in_width if connector.kind == "scale-concat" else width)
        if connector.kind == "resampler":
            if projector not in ("auto", "none"):
                raise SpecError(f"{strategy}: the resampler is the projector; got projector={projector!r}")
            heads = num_heads or default_heads(self.out_width)
            pos = dict(pos_mode="interpolate", pos_grid=connector.query_grid) if connector.query_grid else {}
            self.resamplers = nn.ModuleDict(
                {str(q): Resampler(q, self.out_width, heads, kv_dim=width, **pos) for q in connector.queries}
            )
        else:
            kind = projector if projector != "auto" else connector.projector
            if kind == "auto":
                kind = "none" if self.out_width == in_width else "mlp2x_gelu"
            self.projector = build_projector(kind, in_width, self.out_width)
        if connector.kind in NEWLINE_KINDS and connector.learned:
            self.image_newline = nn.Parameter(torch.randn(self.out_width) / self.out_width**0.5)

    @classmethod
    def for_plan(cls, plan_or_preset: Any, width: int, out_width: int | None = None, **options: Any) -> "Assembler":
        """An assembler for a plan's preset, or for a preset name / spec string."""
        from ..plan import Plan, preset_connector, resolve

        if isinstance(plan_or_preset, Plan):
            return cls(plan_or_preset.strategy, plan_or_preset.connector, width, out_width, **options)
        preset, _, _ = resolve(plan_or_preset)
        return cls(preset.strategy, preset_connector(plan_or_preset), width, out_width, **options)

    def load_reference(
        self, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any] | None = None, where: str = "config.json"
    ) -> "Assembler":
        """Load the learned parts from a reference model's state dict: ``image_newline``
        (LlavaNext / LlavaOnevision), the token stage's patch merger (Mistral 3's
        ``multi_modal_projector.norm`` and ``.patch_merger``), the projector
        (``multi_modal_projector``, ``mm_projector``, InternVL ``mlp1``, Idefics3
        ``connector``, Gemma 3's soft-embedding norm and projection), the resampler
        (MiniCPM-V / LLaVA-UHD ``resampler``). ``config``: the checkpoint's ``config.json``,
        for the settings that come with the weights (a projector's activation, Gemma 3's
        norm epsilon, the merger norm's epsilon; ``where`` names it in errors)."""
        from ..errors import CheckpointError

        if config is not None and hasattr(self.projector, "configure"):
            self.projector.configure(config, where)

        with torch.no_grad():
            if self.merger is not None:
                used = self.merger.load_reference(state_dict, config)
                state_dict = {k: v for k, v in state_dict.items() if k not in used}
            if self.image_newline is not None:
                t = find_tensor(state_dict, "image_newline")
                if t.shape != self.image_newline.shape:
                    raise CheckpointError(
                        f"image_newline of shape {tuple(t.shape)}, expected {tuple(self.image_newline.shape)}"
                    )
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
        if plan.reducers:  # assemble what the encoder saw, then the spec's reducers
            from .reduce import apply_reducers

            seq = apply_reducers(plan, self(plan.unreduced, view_features))
            if len(seq) != plan.num_tokens:
                raise ShapeError(f"{plan.spec}: reduced to {len(seq)} tokens, the plan counts {plan.num_tokens}")
            return seq
        if ASSEMBLY.get(plan.strategy) is not self.rule or not _same_parts(plan.connector, self.connector):
            raise SpecError(
                f"an assembler built for {self.strategy} ({self.connector.kind}) cannot assemble a "
                f"{plan.preset} plan ({plan.connector.kind})"
            )
        if len(view_features) != len(plan.views):
            raise ShapeError(f"{len(view_features)} feature tensors for {len(plan.views)} views")
        for i, x in enumerate(view_features):
            if x.dim() != 2 or x.shape[1] != self.width:
                raise ShapeError(f"view {i}: features must be (n, {self.width}), got {tuple(x.shape)}")
        seq = self.rule(self, plan, list(view_features)).build(self.out_width)
        if len(seq) != plan.num_tokens:
            raise ShapeError(f"{plan.preset}: assembled {len(seq)} tokens, the plan counts {plan.num_tokens}")
        return seq

    def split_view(self, plan, i: int, x: torch.Tensor, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(kept prefix rows (keep, d), grid map (gh, gw, d)) of view i's features."""
        v = plan.views[i]
        gh, gw = v.features
        n = gh * gw
        allowed = (n + keep,) if keep else (n, n + self.prefix_tokens)
        if x.shape[0] not in allowed:
            want = " or ".join(str(a) for a in sorted(set(allowed)))
            raise ShapeError(
                f"view {i} ({v.role}, {v.size.width}x{v.size.height} px, {gh}x{gw} patches of "
                f"{plan.connector.patch_size} px): expected {want} feature rows, got {x.shape[0]}"
            )
        skip = x.shape[0] - n
        return x[:keep], x[skip:].reshape(gh, gw, -1)


def _same_parts(a: Connector, b: Connector) -> bool:
    """Two connectors that need the same learned modules (the per-image merge of the
    budget planner may differ)."""
    return (a.kind, a.channels, a.learned, a.queries, a.query_grid, a.projector) == (
        b.kind, b.channels, b.learned, b.queries, b.query_grid, b.projector
    )


def assemble(plan, view_features: Sequence[torch.Tensor], modules: Assembler | None = None) -> VisualSequence:
    """The visual sequence of one plan (module docstring)."""
    if modules is None:
        if has_learned_parts(plan.connector):
            raise SpecError(
                f"preset {plan.preset!r} has learned parts; pass modules=Assembler.for_plan(plan, width) "
                "(random) or one loaded with load_reference"
            )
        if not view_features:
            raise ShapeError("no view features given")
        modules = Assembler.for_plan(plan, view_features[0].shape[-1])
    return modules(plan, view_features)
