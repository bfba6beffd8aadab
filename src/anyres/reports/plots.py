"""Plots (matplotlib, imported lazily)."""

from __future__ import annotations

from typing import Sequence

from ..errors import AnyresError
from ..plan import Size, plan, presets


def plot_tokens_vs_size(specs: Sequence[str] | None, like: Size, path: str, steps: int = 60) -> None:
    """Tokens against image size for each preset, at the aspect ratio of ``like``,
    the longer side swept from 64 to 6000 pixels (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    specs = list(specs or presets())
    aspect = like.width / like.height
    longs = sorted({int(64 * (6000 / 64) ** (i / (steps - 1))) for i in range(steps)})
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for spec in specs:
        xs, ys = [], []
        for long in longs:
            w, h = (long, max(1, round(long / aspect))) if aspect >= 1 else (max(1, round(long * aspect)), long)
            try:
                ys.append(plan((w, h), spec).num_tokens)
                xs.append(long)
            except AnyresError:
                continue
        ax.plot(xs, ys, label=spec, drawstyle="steps-post")
    ax.axvline(max(like.width, like.height), color="grey", linestyle=":", label=f"this image ({like})")
    ax.set_xscale("log")
    ax.set_xlabel(f"longer side in pixels (aspect {like.width}:{like.height})")
    ax.set_ylabel("visual tokens")
    ax.set_title("Tokens against image size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
