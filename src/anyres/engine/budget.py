"""``anyres budget``: what a corpus costs in visual tokens under each preset.

Every image is measured from its header (no pixels decoded, no encoder) and planned
under each preset; the result is, per preset, the total and the distribution of tokens
(and of prompt positions, where the preset wraps its tokens in text), with the images
each preset refuses (``PlanError``: e.g. qwen2-vl's aspect-ratio limit) counted apart,
and the unreadable files listed once. Given an encoder size and a language-model size
(``anyres.plan.sizes``), each preset also totals the corpus's encoder TFLOPs and the KV
cache its prompt positions take (GB).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..errors import AnyresError, PlanError
from ..plan import Size, plan
from .sources import Item, iter_items


@dataclass
class PresetBudget:
    preset: str
    tokens: list[int] = field(default_factory=list)
    layout: list[int] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    encoder_flops: int | None = None  # summed over the corpus, when an encoder size is given
    kv_bytes: float | None = None  # summed over the corpus, when a language-model size is given

    def summary(self) -> dict[str, Any]:
        t = sorted(self.tokens)
        costs = {}
        if self.encoder_flops is not None:
            costs["encoder_tflops"] = self.encoder_flops / 1e12
        if self.kv_bytes is not None:
            costs["kv_gb"] = self.kv_bytes / 1e9
        return {
            "preset": self.preset,
            "images": len(t),
            "refused": len(self.refused),
            "total_tokens": sum(t),
            "total_prompt_positions": sum(self.layout),
            "mean": (sum(t) / len(t)) if t else 0.0,
            "p50": percentile(t, 50),
            "p90": percentile(t, 90),
            "p99": percentile(t, 99),
            "max": t[-1] if t else 0,
            **costs,
        }


@dataclass
class CorpusBudget:
    presets: list[PresetBudget]
    sizes: list[tuple[str, Size]]
    unreadable: list[tuple[str, str]]  # (key, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": len(self.sizes),
            "unreadable": [{"source": k, "reason": r} for k, r in self.unreadable],
            "presets": [p.summary() for p in self.presets],
            "refused": {p.preset: [{"source": k, "reason": r} for k, r in p.refused] for p in self.presets if p.refused},
        }


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def item_size(item: Item) -> Size:
    """The displayed (EXIF-oriented) size, from the header only (``anyres.image.probe``:
    regular files only, a late PNG eXIf chunk found without decoding)."""
    from ..image.probe import probe

    return probe(item.path if item.data is None else item.data).size


def measure(items: Iterable[Item], presets: Sequence[str], progress: bool = False, *, encoder: Any = None,
            llm: Any = None, dtype: str = "bfloat16") -> CorpusBudget:
    budgets = [PresetBudget(p, encoder_flops=None if encoder is None else 0, kv_bytes=None if llm is None else 0)
               for p in presets]
    if encoder is not None or llm is not None:  # read a folder's config once, not per image
        from ..plan.sizes import encoder_size, llm_size

        encoder = encoder if encoder in (None, "auto") else encoder_size(encoder)
        llm = llm if llm in (None, "auto") else llm_size(llm)
    sizes, unreadable = [], []
    iterator: Iterable[Item] = items
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, unit="img", desc="planning")
    for item in iterator:
        if item.problem is not None:  # a bad entry of the source (see sources.Item)
            unreadable.append((item.key, f"{item.key}: {item.problem}"))
            continue
        try:
            size = item_size(item)
        except AnyresError as exc:
            unreadable.append((item.key, str(exc)))
            continue
        except OSError as exc:
            unreadable.append((item.key, f"{type(exc).__name__}: {exc}"))
            continue
        sizes.append((item.key, size))
        for b in budgets:
            try:
                p = plan(size, b.preset)
            except PlanError as exc:
                b.refused.append((item.key, str(exc)))
                continue
            b.tokens.append(p.num_tokens)
            b.layout.append(len(p.layout))
            if encoder is not None or llm is not None:
                c = p.cost(encoder, llm, dtype=dtype)
                if encoder is not None:
                    b.encoder_flops += c.encoder_flops.total
                if llm is not None:
                    b.kv_bytes += c.kv_cache_bytes
    return CorpusBudget(budgets, sizes, unreadable)


def corpus_budget(src: str | os.PathLike, presets: Sequence[str], *, column: str | None = None,
                  progress: bool = False, encoder: Any = None, llm: Any = None, dtype: str = "bfloat16") -> CorpusBudget:
    return measure(iter_items(src, column=column), presets, progress, encoder=encoder, llm=llm, dtype=dtype)


def format_budget(result: CorpusBudget) -> str:
    head = ("preset", "images", "refused", "total tokens", "mean", "p50", "p90", "p99", "max", "prompt positions")
    extra = [k for k in ("encoder_tflops", "kv_gb") if result.presets and k in result.presets[0].summary()]
    head += tuple({"encoder_tflops": "encoder TFLOPs", "kv_gb": "KV GB"}[k] for k in extra)
    rows = [head]
    for b in result.presets:
        s = b.summary()
        rows.append((s["preset"], str(s["images"]), str(s["refused"]), f"{s['total_tokens']:,}", f"{s['mean']:.0f}",
                     str(s["p50"]), str(s["p90"]), str(s["p99"]), str(s["max"]), f"{s['total_prompt_positions']:,}")
                    + tuple(f"{s[k]:,.2f}" for k in extra))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\n{len(result.sizes)} images planned, {len(result.unreadable)} unreadable")
    return "\n".join(lines)


def plot_budget(result: CorpusBudget, out: str) -> None:
    """Cumulative distribution of tokens per image, one curve per preset (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for b in result.presets:
        t = sorted(b.tokens)
        if not t:
            continue
        ax.step(t, [(k + 1) / len(t) for k in range(len(t))], where="post",
                label=f"{b.preset} (total {sum(t):,})")
    ax.set_xscale("log")
    ax.set_xlabel("visual tokens per image")
    ax.set_ylabel("share of images")
    ax.set_title(f"Token cost of {len(result.sizes)} images")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
