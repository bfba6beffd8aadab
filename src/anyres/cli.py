"""The ``anyres`` command."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Sequence

from .errors import AnyresError, SpecError


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 1000x600, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _specs(text: str | None) -> list[str] | None:
    """Split a comma-separated preset list, keeping commas inside parentheses."""
    if not text:
        return None
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _source(args) -> object:
    if getattr(args, "size", None):
        return args.size
    if not getattr(args, "image", None):
        raise SpecError("give an IMAGE or --size WxH")
    return args.image


def cmd_presets(args) -> int:
    from .plan import get_preset, presets

    rows = []
    for name in presets():
        p = get_preset(name)
        rows.append((name, p.strategy, p.description))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for name, strategy, desc in rows:
        print(f"{name.ljust(w0)}  {strategy.ljust(w1)}  {desc}")
    return 0


def cmd_plan(args) -> int:
    from .plan import plan

    p = plan(_source(args), args.preset)
    if args.json:
        print(json.dumps(p.to_dict(layout=not args.no_layout), indent=2))
        return 0
    print(repr(p))
    d = p.diagnostics
    print(
        f"layout: {len(p.layout)} prompt positions ({p.num_tokens} visual, "
        f"{p.newline_tokens} of them newline embeddings)"
    )
    print(
        f"diagnostics: padding {100 * d.padding_fraction:.1f}%, distortion {d.distortion:.3f}, "
        f"min effective scale {d.min_effective_scale:.3f}, coverage {100 * d.coverage:.1f}%, "
        f"overlap {100 * d.overlap:.1f}%, {len(d.cut_lines)} cut lines"
    )
    for w in d.warnings:
        print(f"warning: {w}")
    return 0


def cmd_show(args) -> int:
    from .plan import plan
    from .viz import render_plan

    image = None
    if args.image:
        from .image import load_image

        image = load_image(args.image)
    source = image if image is not None else _source(args)
    p = plan(source, args.preset)
    out = render_plan(image, p)
    out.save(args.output)
    print(f"wrote {args.output}: {p.spec}, {len(p.views)} views, {p.num_tokens} tokens")
    return 0


def cmd_compare(args) -> int:
    from .compare import compare, format_table

    rows = compare(_source(args), _specs(args.presets))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, markdown=args.markdown))
    if args.plot:
        from .plots import plot_tokens_vs_size
        from .plan import image_size

        size = image_size(_source(args))
        plot_tokens_vs_size(_specs(args.presets), size, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(Path(args.out), legibility=not args.no_legibility)
    return 0


def _ints(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def cmd_eval_legibility(args) -> int:
    from .eval.benchmark import DEFAULT_PRESETS
    from .eval.documents import CATEGORIES
    from .eval.legibility import run_legibility

    cache = False if args.cache == "none" else args.cache
    result = run_legibility(
        args.out,
        presets=_specs(args.presets) or list(DEFAULT_PRESETS),
        budgets=args.budgets,
        images=args.images,
        seed=args.seed,
        splits=[s.strip() for s in args.splits.split(",") if s.strip()],
        data=args.data,
        categories=[c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else CATEGORIES,
        reader=args.reader,
        upscale=args.upscale,
        cache_dir=cache,
        progress=not args.quiet,
    )
    paths = result["paths"]
    print(f"wrote {paths['results']}, {paths['report']} and {paths['pareto']} in {result['meta']['seconds']} s")
    return 0


def cmd_eval_report(args) -> int:
    from .eval.report import write_results

    records, budgets, sources = [], set(), []
    for path in args.results:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SpecError(f"{path}: not a readable results.json ({exc})") from None
        records += data["records"]
        budgets |= {r["budget"] for r in data["records"] if r.get("budget") is not None}
        sources.append(f"{path} ({data.get('meta', {}).get('documents', '?')})")
    meta = {"documents": f"{len({(r['split'], r['image']) for r in records})} from " + "; ".join(sources)}
    paths = write_results(args.out, records, sorted(budgets), meta)
    print(f"wrote {paths['results']}, {paths['report']} and {paths['pareto']}")
    return 0


def cmd_budget(args) -> int:
    from .engine.budget import corpus_budget, format_budget, plot_budget
    from .plan import presets

    specs = _specs(args.presets) or presets()
    result = corpus_budget(args.src, specs, column=args.column, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_budget(result))
        for key, reason in result.unreadable[:10]:
            print(f"  unreadable: {reason}")
        for b in result.presets:
            for key, reason in b.refused[:3]:
                print(f"  {b.preset} refuses {key}: {reason}")
    if args.plot:
        plot_budget(result, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def cmd_encode(args) -> int:
    from .pipeline import VisionPipeline, save_tokens

    pipe = VisionPipeline.from_preset(args.preset, args.encoder, args.projector, out_width=args.out_width,
                                      exact=not args.fast)
    results = pipe(args.images, on_error="skip")
    kept = [(src, r) for src, r in zip(args.images, results) if not isinstance(r, Exception)]
    for src, r in zip(args.images, results):
        if isinstance(r, Exception):
            print(f"anyres: skipped {src}: {r}", file=sys.stderr)
        else:
            print(f"{src}: {r.plan.spec}, {len(r.plan.views)} views, {len(r)} tokens x {r.embeddings.shape[1]}"
                  f" ({len(r.plan.layout)} prompt positions)")
    if not kept:
        raise SpecError("no image could be encoded")
    save_tokens(args.out, [src for src, _ in kept], [r for _, r in kept])
    print(f"wrote {args.out}: {len(kept)} images")
    return 0 if len(kept) == len(args.images) else 1


def cmd_encode_dataset(args) -> int:
    from .engine import encode_dataset

    summary = encode_dataset(
        args.src, args.out, args.preset, args.encoder, engine=args.engine, workers=args.workers,
        batch_size=args.batch_size, shard_mb=args.shard_mb, exact=not args.fast, column=args.column,
        progress=not args.quiet and sys.stderr.isatty(), ray_address=args.ray_address,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['encoded']} images encoded ({summary['tokens']:,} tokens), {summary['refused']} refused, "
            f"{summary['skipped_done']} already done, in {summary['seconds']:.1f} s "
            f"({summary['images_per_s']:.2f} images/s, {summary['tokens_per_s']:,.0f} tokens/s); "
            f"{summary['manifest_images']} in {args.out}/manifest.parquet, {summary['errors_listed']} in errors.parquet"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anyres", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list the registered presets")
    p.set_defaults(func=cmd_presets)

    def image_args(p, preset_required: bool = True):
        p.add_argument("image", nargs="?", help="an image file (only its header is read for planning)")
        p.add_argument("--size", type=_size, help="plan for a size instead of a file, e.g. 1000x600")
        if preset_required:
            p.add_argument("--preset", required=True, help='preset name or spec, e.g. "internvl(max_tiles=6)"')

    p = sub.add_parser("plan", help="print the plan of one image")
    image_args(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-layout", action="store_true", help="leave the layout out of the JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("show", help="draw the plan's views on the image")
    image_args(p)
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("compare", help="one row per preset: views, grid, tokens, padding, ...")
    image_args(p, preset_required=False)
    p.add_argument("--presets", help="comma-separated presets or specs (default: all)")
    p.add_argument("--plot", help="also plot tokens against image size to this PNG")
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("encode", help="encode a handful of images to visual tokens (safetensors)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--preset", required=True, help="preset name or spec")
    p.add_argument("--encoder", required=True, help="a model folder: config.json + model.safetensors")
    p.add_argument("--projector", help="projector kind (default: the preset's own / the checkpoint's)")
    p.add_argument("--out-width", type=int, help="width of the emitted embeddings (default: the checkpoint's)")
    p.add_argument("--fast", action="store_true", help="the fast pixel path (exact=False)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("encode-dataset", help="encode a corpus to safetensors shards + a Parquet manifest (resumable)")
    p.add_argument("src", help="a folder (recursive), a .txt file of paths or a .parquet file")
    p.add_argument("--out", required=True, help="output folder (rerun the same command to resume)")
    p.add_argument("--preset", required=True, help="preset name or spec")
    p.add_argument("--encoder", required=True, help="a model folder: config.json + model.safetensors")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--workers", type=int, default=0, help="decode/render worker processes (0: in the main process)")
    p.add_argument("--batch-size", type=int, default=16, help="images encoded together")
    p.add_argument("--shard-mb", type=float, default=256.0, help="embeddings per shard, in megabytes")
    p.add_argument("--column", help="the Parquet column holding paths or image bytes")
    p.add_argument("--fast", action="store_true", help="the fast pixel path (exact=False)")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_encode_dataset)

    p = sub.add_parser("budget", help="what a corpus costs in tokens under each preset (headers only)")
    p.add_argument("src", help="a folder (recursive), a .txt file of paths or a .parquet file")
    p.add_argument("--presets", help="comma-separated presets or specs (default: all)")
    p.add_argument("--column", help="the Parquet column holding paths or image bytes")
    p.add_argument("--plot", help="also draw the token distributions to this PNG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_budget)

    p = sub.add_parser("eval", help="fidelity benchmarks")
    evsub = p.add_subparsers(dest="benchmark", required=True)
    p = evsub.add_parser(
        "legibility",
        help="how much text survives in the views each preset and token budget gives the encoder (OCR)",
    )
    p.add_argument("--presets", help="comma-separated presets or specs (default: every built-in preset)")
    p.add_argument("--budgets", type=_ints, default=[576, 1152, 2304, 4608],
                   help="token budgets for the budget planner, comma-separated ('' for none)")
    p.add_argument("--data", help="a folder of images with same-named .txt ground truth (instead of generated)")
    p.add_argument("--images", type=int, default=9, help="generated documents per split (9 covers every category), or the first N of --data")
    p.add_argument("--seed", type=int, default=0, help="first seed of each split")
    p.add_argument("--splits", default="dev,heldout", help="generated splits: dev, heldout or both")
    p.add_argument("--categories", help="generated document categories to cycle through (default: all)")
    p.add_argument("--reader", default="rapidocr", help="rapidocr (default) or tesseract")
    p.add_argument("--upscale", type=float, default=1.0, help="enlarge each view by this factor before reading")
    p.add_argument("--cache", default=None, help="OCR cache folder (default ~/.cache/anyres/ocr; 'none' disables)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_eval_legibility)
    p = evsub.add_parser("report", help="merge results.json files of several runs into one report")
    p.add_argument("results", nargs="+", help="results.json files")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_eval_report)

    p = sub.add_parser("demo", help="run the demo on the built-in samples")
    p.add_argument("--out", default="out/demo", help="output folder")
    p.add_argument("--no-legibility", action="store_true", help="skip the OCR legibility report")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AnyresError as exc:
        print(f"anyres: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
