"""The one interface every vision encoder offers, whatever its family.

``VisionEncoder`` is an ``nn.Module`` with these attributes:

- ``family``: the tower family's registered name (``encode/towers.py``): ``"clip"``,
  ``"siglip"``, ``"qwen2_vl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"``, ``"idefics3"`` (Idefics3 and
  SmolVLM), ``"siglip2"`` (NaFlex), ``"internvit"``, ``"pixtral"``, ...
- ``patch_size``, ``temporal_patch_size`` (1 except the Qwen towers: 2), ``merge_size`` (1
  except the Qwen towers: their PatchMerger merges 2x2 patches into one token).
- ``hidden_size``: width of the output tokens (for Qwen2-VL the merger's output width).
- ``image_size``: the native (square) side the checkpoint was trained at (``None`` for
  Qwen2-VL and Pixtral, which have no trained grid); any multiple of ``patch_size * merge_size`` is
  accepted.
- ``has_cls``: whether a CLS token leads each sequence (CLIP yes, SigLIP/Qwen2-VL/Pixtral no).
- ``feature_layer``: which hidden state is returned, indexed like transformers'
  ``hidden_states`` (0 = the input of the first layer, L = the last layer's output),
  stored non-negative: it is also the number of layers the encoder holds and runs.

and three ways in:

- ``forward_features(pixel_values, *, keep_cls=False, output_attention=False)``:
  (views, 3, H, W) -> (views, tokens, hidden_size). With ``output_attention`` an
  ``EncoderOutput`` also carries the feature layer's attention probabilities averaged
  over heads (views, N, N) and its keys (views, N, width), over the whole sequence the
  layer saw (CLS first when ``has_cls``, unmerged patches for Qwen2-VL).
- ``forward_packed(patches, grid_thw, *, keep_cls=False)``: the packed native layout of
  transformers' Qwen2-VL: (N, C*t*p*p) patch vectors and one (t, h, w) row per image;
  returns every image's tokens concatenated (attention stays inside each image).
- ``forward_views(views, *, keep_cls=False)``: a list of (3, H, W) views of mixed shapes,
  encoded as one packed sequence, returned as a list of (tokens, hidden_size) features
  equal to encoding each view alone.

DeepStack (Qwen3-VL): ``deepstack_levels`` says how many intermediate feature levels the
tower returns beside its output (0 for every other family). ``forward_packed(...,
deepstack=True)`` and ``forward_features(..., deepstack=True)`` return a
``DeepstackOutput(features, deepstack)``, ``deepstack`` one tensor per level with the
same rows (and width) as ``features``; ``forward_views(..., deepstack=True)`` returns one
``DeepstackOutput`` per view (a tower without DeepStack gives empty ``deepstack`` tuples).

``keep_cls=True`` on a family without CLS is a no-op (there is nothing to keep).
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ShapeError, SpecError


class EncoderOutput(NamedTuple):
    """``forward_features(..., output_attention=True)``."""

    features: torch.Tensor  # (views, tokens, hidden_size)
    attention: torch.Tensor  # (views, N, N), head-averaged, rows sum to 1
    keys: torch.Tensor  # (views, N, width) keys of the feature layer (after RoPE for Qwen2-VL)
    num_prefix_tokens: int  # leading non-patch rows of attention/keys (1 for CLIP's CLS)


class DeepstackOutput(NamedTuple):
    """Main tokens and the DeepStack levels the language model adds at its first layers."""

    features: torch.Tensor  # (..., tokens, hidden_size)
    deepstack: tuple[torch.Tensor, ...]  # one per level, each shaped like ``features``


def patchify(
    pixels: torch.Tensor, patch_size: int, merge_size: int = 1, temporal_patch_size: int = 1
) -> torch.Tensor:
    """(..., C, H, W) -> (..., h*w, C*t*p*p) patch vectors in transformers' packed layout.

    Patches are row-major over merge blocks and row-major inside a block (plain row-major
    when ``merge_size`` is 1); each vector is ordered (C, t, p, p), the image repeated
    ``temporal_patch_size`` times as Qwen2-VL's processor does for still images.
    """
    if pixels.dim() < 3:
        raise ShapeError(f"patchify takes (..., C, H, W) pixels, got shape {tuple(pixels.shape)}")
    *lead, C, H, W = pixels.shape
    p, m, t = patch_size, merge_size, temporal_patch_size
    if H % (p * m) or W % (p * m):
        raise ShapeError(f"pixels of {H}x{W} (HxW) are not a multiple of {p * m} (patch {p} x merge {m}) on both sides")
    h, w = H // p, W // p
    x = pixels.reshape(-1, C, h // m, m, p, w // m, m, p)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # B, h/m, w/m, m, m, C, p, p
    x = x.unsqueeze(6).expand(*x.shape[:6], t, p, p)  # B, h/m, w/m, m, m, C, t, p, p
    return x.reshape(*lead, h * w, C * t * p * p)


class VisionEncoder(nn.Module):
    """Base class: subclasses set the attributes and implement the two forwards."""

    family: str
    patch_size: int
    hidden_size: int
    image_size: int | None
    has_cls: bool
    merge_size: int = 1
    temporal_patch_size: int = 1
    feature_layer: int
    num_channels: int = 3
    deepstack_levels: int = 0

    def forward_features(
        self, pixel_values: torch.Tensor, *, keep_cls: bool = False, output_attention: bool = False
    ) -> torch.Tensor | EncoderOutput:
        raise NotImplementedError

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> torch.Tensor | EncoderOutput:
        return self.forward_features(pixel_values, **kwargs)

    def set_packed_attention(self, impl: str) -> None:
        """Choose the block-diagonal attention of packed sequences (see ``attention.py``)."""
        from .attention import IMPLEMENTATIONS
        from .layers import Attention

        if impl not in IMPLEMENTATIONS:
            raise SpecError(f"unknown attention implementation {impl!r}; choose from {IMPLEMENTATIONS}")
        for module in self.modules():
            if isinstance(module, Attention):
                module.impl = impl

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def tokens_per_view(self, height: int, width: int, keep_cls: bool = False) -> int:
        """Rows ``forward_features`` returns for one H x W view."""
        m = self.merge_size
        tokens = (height // self.patch_size // m) * (width // self.patch_size // m)
        return tokens + int(keep_cls and self.has_cls)

    def patchify(self, view: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """One (C, H, W) view -> (patch vectors, its (t, h, w) grid row) for ``forward_packed``."""
        if not isinstance(view, torch.Tensor) or view.dim() != 3:
            raise ShapeError(f"{self.family}: a view is a (C, H, W) tensor, got {_describe(view)}")
        self.check_size(view.shape[-2], view.shape[-1])
        p = self.patch_size
        view = view[:, : view.shape[-2] // p * p, : view.shape[-1] // p * p]  # as the valid convolution
        patches = patchify(view, p, self.merge_size, self.temporal_patch_size)
        return patches, (1, view.shape[-2] // p, view.shape[-1] // p)

    def check_views(self, pixel_values: Any, output_attention: bool = False) -> tuple[int, int, int, int]:
        """(B, C, H, W) of a batch of views of one shape, checked: four axes, the tower's
        channels, a size ``check_size`` accepts, and layers to report attention from."""
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4:
            raise ShapeError(f"{self.family}: expected a (views, C, H, W) tensor, got {_describe(pixel_values)}")
        B, C, H, W = pixel_values.shape
        if C != self.num_channels:
            raise ShapeError(
                f"{self.family}: expected {self.num_channels} channels, got {C} (shape {tuple(pixel_values.shape)})"
            )
        self.check_size(H, W)
        if output_attention and not self.blocks:
            raise SpecError("feature_layer 0 is the patch embeddings: no attention layer to report")
        return B, C, H, W

    def check_size(self, height: int, width: int) -> None:
        """A tower without merging embeds patches like a valid convolution: any size of
        at least one patch, the last ``size % patch`` pixels at the bottom and right left
        out (SigLIP-384/14 sees 27x27 patches of a 384 view, as in transformers). A
        merging tower (Qwen2-VL) needs whole merge blocks."""
        unit = self.patch_size * self.merge_size
        if height < unit or width < unit:
            raise ShapeError(f"{self.family}: view {height}x{width} (HxW) is smaller than one {unit}x{unit} patch")
        if self.merge_size > 1 and (height % unit or width % unit):
            raise ShapeError(
                f"{self.family}: view {height}x{width} (HxW) must be a multiple of {unit} on both sides "
                f"(whole {self.merge_size}x{self.merge_size} merge blocks of {self.patch_size} px patches)"
            )

    def forward_views(
        self, views: list[torch.Tensor], *, keep_cls: bool = False, deepstack: bool = False
    ) -> list[torch.Tensor] | list[DeepstackOutput]:
        """Encode views of mixed shapes as one packed sequence; one feature tensor per view
        (with ``deepstack``, one ``DeepstackOutput`` per view)."""
        if not views:
            return []
        parts = [self.patchify(v.to(self.dtype)) for v in views]
        patches = torch.cat([pt for pt, _ in parts], dim=0)
        grid = [g for _, g in parts]
        levels: tuple[torch.Tensor, ...] = ()
        if deepstack and self.deepstack_levels:
            tokens, levels = self.forward_packed(patches, grid, keep_cls=keep_cls, deepstack=True)
        else:
            tokens = self.forward_packed(patches, grid, keep_cls=keep_cls)
        counts = [self.tokens_per_view(h * self.patch_size, w * self.patch_size, keep_cls) for _, h, w in grid]
        assert tokens.shape[0] == sum(counts), f"{tokens.shape[0]} tokens for views expecting {sum(counts)}"  # invariant
        per_view = list(tokens.split(counts, dim=0))
        if not deepstack:
            return per_view
        split_levels = [level.split(counts, dim=0) for level in levels]
        return [DeepstackOutput(f, tuple(level[i] for level in split_levels)) for i, f in enumerate(per_view)]

    def extra_repr(self) -> str:
        return (
            f"family={self.family!r}, patch_size={self.patch_size}, image_size={self.image_size}, "
            f"hidden_size={self.hidden_size}, feature_layer={self.feature_layer}"
        )


def _describe(x: Any) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"


def grid_rows(grid_thw: torch.Tensor | list) -> list[tuple[int, int, int]]:
    """(t, h, w) rows as Python ints from a tensor or a list; each a positive whole number."""
    try:
        rows = grid_thw.tolist() if isinstance(grid_thw, torch.Tensor) else list(grid_thw)
        rows = [list(r) for r in rows]
    except TypeError:
        raise ShapeError(f"grid_thw must be rows of (t, h, w), got {grid_thw!r}") from None
    if not rows:
        raise ShapeError("grid_thw is empty: give one (t, h, w) row per image")
    out = []
    for r in rows:
        try:
            row = tuple(operator.index(x) for x in r if not isinstance(x, bool))
        except TypeError:
            row = ()
        if len(row) != 3 or len(r) != 3 or min(row) < 1:
            raise ShapeError(f"grid_thw rows must be (t, h, w) of positive integers, got {r!r} in {rows}")
        out.append(row)
    return out


def check_feature_layer(feature_layer: Any, num_layers: int) -> None:
    """A tower built directly holds ``feature_layer`` of its ``num_layers`` blocks (0 = embeddings)."""
    if isinstance(feature_layer, bool) or not isinstance(feature_layer, int) or not 0 <= feature_layer <= num_layers:
        raise SpecError(f"feature_layer={feature_layer!r} must be an integer in 0..{num_layers} (the tower's layers)")


def check_packed(patches: Any, rows: list[tuple[int, int, int]], width: int, family: str) -> None:
    """``forward_packed``'s input: (N, width) patch vectors, N the patches ``rows`` describe."""
    if not isinstance(patches, torch.Tensor) or patches.dim() != 2 or patches.shape[1] != width:
        raise ShapeError(f"{family}: patches must be (N, {width}), got {_describe(patches)}")
    expected = sum(t * h * w for t, h, w in rows)
    if patches.shape[0] != expected:
        raise ShapeError(f"{family}: {patches.shape[0]} patch rows, but grid_thw {rows} describes {expected}")
