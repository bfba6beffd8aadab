"""The ``anyres`` command.

Exit status: 0 done, 1 an input was refused (or the work failed), 2 a usage error (bad
arguments, a preset or output path that cannot work). Errors are one line on stderr;
``--debug`` (anywhere on the line) shows the traceback instead. Outputs (``--out``,
``-o``, ``--plot``) are checked before any work starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from .errors import AnyresError, SpecError


class UsageError(Exception):
    """What argparse would print with its usage text; the command line prints one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 1000x600, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def cost_args(p, context: bool = True) -> None:
    from .plan import ENCODERS, LLMS

    p.add_argument("--encoder-size", help=f"vision tower for FLOPs: {', '.join(ENCODERS)}, a model folder, or auto (each preset's own)")
    p.add_argument("--llm-size", help=f"language model for prefill FLOPs and KV cache: {', '.join(LLMS)}, a folder, or auto")
    if context:
        p.add_argument("--context", type=int, help="context length: show each image's share of it")
    p.add_argument("--dtype", default="bfloat16", help="KV-cache dtype (default bfloat16)")


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
    if getattr(args, "size", None) and getattr(args, "image", None):
        raise UsageError("give an IMAGE or --size WxH, not both")
    if getattr(args, "size", None):
        return args.size
    if not getattr(args, "image", None):
        raise UsageError("give an IMAGE or --size WxH")
    return args.image


def _writable_folder(folder: Path, what: str) -> None:
    if not folder.is_dir():
        raise UsageError(f"{what}: the folder {folder} does not exist" if not folder.exists()
                         else f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: the folder {folder} is not writable")


def output_file(path: str, option: str, extensions: set[str] | None = None) -> None:
    """Refuse, before any work, an output file that cannot be written: its folder
    missing or read-only, the path a folder, an extension the writer does not know."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    _writable_folder(p.parent if str(p.parent) else Path("."), f"{option} {path}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option} {path}: the file is not writable")
    if extensions is not None:
        ext = p.suffix.lower().lstrip(".")
        if ext not in extensions:
            common = [e for e in ("png", "jpg", "webp", "pdf", "svg") if e in extensions]
            raise UsageError(f"{option} {path}: unknown image extension {p.suffix or '(none)'!r}; use one of "
                             f"{', '.join(common + sorted(extensions - set(common))[: max(0, 10 - len(common))])}"
                             f"{', ...' if len(extensions) > 10 else ''}")


def output_folder(path: str, option: str = "--out") -> None:
    """Refuse an output folder that is a file or cannot be created or written."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise UsageError(f"{option} {path}: is a file, not a folder")
        _writable_folder(p, f"{option} {path}")
        return
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
    _writable_folder(parent, f"{option} {path}")


def pillow_extensions() -> set[str]:
    from PIL import Image

    return {ext.lstrip(".") for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}


def plot_extensions() -> set[str]:
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise UsageError("plots need matplotlib: pip install matplotlib") from None
    return set(FigureCanvasBase.get_supported_filetypes())


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

    p = plan(_source(args), args.preset, **({} if args.max_tokens is None else {"max_tokens": args.max_tokens}))
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
    from .reports.viz import render_plan

    output_file(args.output, "-o", pillow_extensions())
    _source(args)
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
    from .reports.compare import COLUMNS, COST_COLUMNS, compare, format_table

    source = _source(args)
    if args.plot:
        output_file(args.plot, "--plot", plot_extensions())
    costed = args.encoder_size is not None or args.llm_size is not None or args.context is not None
    rows = compare(source, _specs(args.presets), encoder=args.encoder_size, llm=args.llm_size, context=args.context,
                   dtype=args.dtype, max_tokens=args.max_tokens)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, COLUMNS + COST_COLUMNS if costed else COLUMNS, markdown=args.markdown))
    if args.plot:
        from .reports.plots import plot_tokens_vs_size
        from .plan import image_size

        size = image_size(source)
        plot_tokens_vs_size(_specs(args.presets), size, args.plot)
        print(f"wrote {args.plot}")
    return 1 if rows and all("error" in r for r in rows) else 0


def cmd_demo(args) -> int:
    from .reports.demo import run_demo

    output_folder(args.out)
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
    from .eval.benchmark import DEFAULT_FITTED, DEFAULT_PRESETS
    from .eval.documents import CATEGORIES
    from .eval.legibility import run_legibility

    output_folder(args.out)
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
        fitted=(_specs(args.fitted) or []) if args.fitted is not None else list(DEFAULT_FITTED),
    )
    paths = result["paths"]
    print(f"wrote {paths['results']}, {paths['report']}, {paths['pareto']} and {paths['cost']} "
          f"in {result['meta']['seconds']} s")
    return 0


def cmd_eval_ranking(args) -> int:
    from .eval.legibility import RANKING_CATEGORIES, run_ranking

    output_folder(args.out)
    cache = False if args.cache == "none" else args.cache
    categories = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else RANKING_CATEGORIES
    result = run_ranking(
        args.out, presets=_specs(args.presets) or None, budgets=args.budgets, images=args.images or len(categories),
        categories=categories, fitted=(_specs(args.fitted) or []) if args.fitted is not None else None,
        fit_budgets=args.fit_budgets, reader=args.reader, cache_dir=cache, progress=not args.quiet,
    )
    paths = result["paths"]
    read, cached = result["views"]
    print(f"wrote {paths['results']}, {paths['report']} and {paths['cost']} in {result['seconds']} s "
          f"({read} views read, {cached} from the cache; load {result['load']})")
    return 0


RECORD_KEYS = ("split", "image", "preset", "budget", "tokens", "recall")


def read_results(path: str) -> tuple[list[dict], str]:
    """The records of an ``anyres eval legibility`` results.json, checked enough that
    the report can be written (``SpecError`` naming the file and what is wrong)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: not a readable results.json ({exc})") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise SpecError(f"{path}: not a results.json of 'anyres eval legibility' (no list of records)")
    for k, r in enumerate(records):
        missing = [key for key in RECORD_KEYS if not isinstance(r, dict) or key not in r]
        if missing:
            raise SpecError(f"{path}: record {k} is not a legibility record (missing {', '.join(missing)})")
        if r["budget"] is not None and (isinstance(r["budget"], bool) or not isinstance(r["budget"], int)):
            raise SpecError(f"{path}: record {k} has a budget that is not an integer: {r['budget']!r}")
        if any(isinstance(r[key], bool) or not isinstance(r[key], (int, float)) for key in ("tokens", "recall")):
            raise SpecError(f"{path}: record {k} has tokens or recall that are not numbers")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return records, f"{path} ({meta.get('documents', '?')})"


def cmd_eval_report(args) -> int:
    from .eval.report import write_results

    output_folder(args.out)
    records, budgets, sources = [], set(), []
    for path in args.results:
        recs, source = read_results(path)
        records += recs
        budgets |= {r["budget"] for r in recs if r.get("budget") is not None}
        sources.append(source)
    meta = {"documents": f"{len({(str(r['split']), str(r['image'])) for r in records})} from " + "; ".join(sources)}
    try:
        paths = write_results(args.out, records, sorted(budgets), meta)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # records of another shape than ours
        raise SpecError(f"the results do not come from 'anyres eval legibility' ({type(exc).__name__}: {exc})") from None
    print(f"wrote {paths['results']}, {paths['report']} and {paths['pareto']}")
    return 0


def cmd_budget(args) -> int:
    from .engine.budget import corpus_budget, format_budget, plot_budget
    from .plan import presets

    specs = _specs(args.presets) or presets()
    if args.plot:
        output_file(args.plot, "--plot", plot_extensions())
    result = corpus_budget(args.src, specs, column=args.column, progress=not args.json and sys.stderr.isatty(),
                           encoder=args.encoder_size, llm=args.llm_size, dtype=args.dtype)
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

    output_file(args.out, "--out")
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

    if "://" not in args.out:  # an object store (s3://, gs://, ...) is checked when the job opens it
        output_folder(args.out)
    summary = encode_dataset(
        args.src, args.out, args.preset, args.encoder, engine=args.engine, workers=args.workers,
        batch_size=args.batch_size, shard_mb=args.shard_mb, exact=not args.fast, column=args.column,
        progress=not args.quiet and sys.stderr.isatty(), ray_address=args.ray_address,
        force_workers=args.force_workers, encoders=args.encoders, gpus_per_encoder=args.gpus_per_encoder,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['encoded']} images encoded ({summary['tokens']:,} tokens), {summary['refused']} refused, "
            f"{summary['skipped_done']} already done, in {summary['seconds']:.1f} s "
            f"({summary['images_per_s']:.2f} images/s, {summary['tokens_per_s']:,.0f} tokens/s); "
            f"{summary['manifest_images']} in {args.out}/manifest.parquet, {summary['errors_listed']} in errors.parquet"
            + (f"; Ray start-up {summary['ray_startup_s']:.1f} s, {summary['encoder_actors']} encoder actors on "
               f"{summary['encoder_nodes']} nodes" if "ray_startup_s" in summary else "")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anyres", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list the registered presets")
    p.set_defaults(func=cmd_presets)

    def image_args(p, preset_required: bool = True):
        p.add_argument("image", nargs="?", help="an image file (only its header is read for planning)")
        p.add_argument("--size", type=_size, help="plan for a size instead of a file, e.g. 1000x600")
        if preset_required:
            p.add_argument("--preset", required=True,
                           help='preset name, spec (e.g. "internvl(max_tiles=6)") or checkpoint folder')

    p = sub.add_parser("plan", help="print the plan of one image")
    image_args(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-layout", action="store_true", help="leave the layout out of the JSON")
    p.add_argument("--max-tokens", type=int, help="fit the preset's own size knob (max_pixels, max_tiles, ...) to "
                   "this many tokens")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("show", help="draw the plan's views on the image")
    image_args(p)
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("compare", help="one row per preset: views, grid, tokens, padding, ...")
    image_args(p, preset_required=False)
    p.add_argument("--presets", help="comma-separated presets or specs (default: all)")
    p.add_argument("--plot", help="also plot tokens against image size to this PNG")
    p.add_argument("--max-tokens", type=int, help="fit each preset's own size knob (max_pixels, max_tiles, ...) to "
                   "this many tokens")
    cost_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("encode", help="encode a handful of images to visual tokens (safetensors)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--preset", required=True, help="preset name, spec or checkpoint folder")
    p.add_argument("--encoder", required=True, help="a model folder: config.json + model.safetensors")
    p.add_argument("--projector", help="projector kind (default: the preset's own / the checkpoint's)")
    p.add_argument("--out-width", type=int, help="width of the emitted embeddings (default: the checkpoint's)")
    p.add_argument("--fast", action="store_true", help="the fast pixel path (exact=False)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("encode-dataset", help="encode a corpus to safetensors shards + a Parquet manifest (resumable)")
    p.add_argument("src", help="a folder (recursive), a .txt file of paths or a .parquet file")
    p.add_argument("--out", required=True, help="output folder, or an object store URI such as s3://bucket/job or gs://bucket/job "
                   "(rerun the same command to resume)")
    p.add_argument("--preset", required=True, help="preset name, spec or checkpoint folder")
    p.add_argument("--encoder", required=True, help="a model folder: config.json + model.safetensors")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--workers", type=int, default=0,
                   help="decode/render worker processes (0: in the main process; at most the machine's cores)")
    p.add_argument("--force-workers", action="store_true",
                   help="allow more workers than cores (or set ANYRES_MAX_WORKERS)")
    p.add_argument("--batch-size", type=int, default=16, help="images encoded together")
    p.add_argument("--shard-mb", type=float, default=256.0, help="embeddings per shard, in megabytes")
    p.add_argument("--column", help="the Parquet column holding paths or image bytes")
    p.add_argument("--fast", action="store_true", help="the fast pixel path (exact=False)")
    p.add_argument("--address", "--ray-address", dest="ray_address",
                   help="Ray engine: a running cluster to join ('auto', or HOST:PORT; default: start one for this job)")
    p.add_argument("--encoders", help="Ray engine: encoder actors, N or MIN,MAX (default: one per GPU, "
                   "or one CPU actor per node)")
    p.add_argument("--gpus-per-encoder", type=float, default=1.0,
                   help="Ray engine: GPUs each encoder actor takes (a fraction shares a GPU; default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_encode_dataset)

    p = sub.add_parser("budget", help="what a corpus costs in tokens under each preset (headers only)")
    p.add_argument("src", help="a folder (recursive), a .txt file of paths or a .parquet file")
    p.add_argument("--presets", help="comma-separated presets or specs (default: all)")
    p.add_argument("--column", help="the Parquet column holding paths or image bytes")
    p.add_argument("--plot", help="also draw the token distributions to this PNG")
    cost_args(p, context=False)
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
    p.add_argument("--fitted", default=None,
                   help="model presets also run fitted to each budget (max_tokens=B) and capped the naive way "
                        "(default: qwen2.5-vl,internvl; '' for none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_eval_legibility)
    p = evsub.add_parser(
        "ranking",
        help="every preset at its defaults and fitted to token budgets: words read per 1,000 tokens and per GFLOP",
    )
    p.add_argument("--presets", help="comma-separated presets (default: every preset)")
    p.add_argument("--budgets", type=_ints, default=[1024, 2048], help="budgets every preset is fitted to")
    p.add_argument("--fitted", default=None,
                   help="presets compared fitted against naive caps (default: every preset of the run; '' for none)")
    p.add_argument("--fit-budgets", type=_ints, default=[1024, 2048], help="budgets of the fitted-against-naive runs")
    p.add_argument("--images", type=int, default=0, help="generated dev documents (default: one per category)")
    p.add_argument("--categories", help="document categories (default: receipt,page,table,screenshot)")
    p.add_argument("--reader", default="rapidocr", help="rapidocr (default) or tesseract")
    p.add_argument("--cache", default=None, help="OCR cache folder (default ~/.cache/anyres/ocr; 'none' disables)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder (the README reads docs/results)")
    p.set_defaults(func=cmd_eval_ranking)
    p = evsub.add_parser("report", help="merge results.json files of several runs into one report")
    p.add_argument("results", nargs="+", help="results.json files")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_eval_report)

    p = sub.add_parser("demo", help="run the demo on the built-in samples")
    p.add_argument("--out", default="out/demo", help="output folder")
    p.add_argument("--no-legibility", action="store_true", help="skip the OCR legibility report")
    p.set_defaults(func=cmd_demo)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _quiet_stdout() -> None:
    """After a broken pipe (``anyres ... | head``): point stdout at devnull so that the
    interpreter's final flush does not fail again (as Python's signal docs advise)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (never raises, unless ``--debug``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"anyres: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except Exception as exc:
        if debug:
            raise
        code, text = _describe(exc)
        try:
            print(f"anyres: error: {text}", file=sys.stderr)
        except (BrokenPipeError, ValueError):
            pass
        return code
    except KeyboardInterrupt:
        if debug:
            raise
        print("anyres: interrupted", file=sys.stderr)
        return 130


def _describe(exc: BaseException) -> tuple[int, str]:
    """Exit status and one line for an error: 2 for a usage error (bad arguments,
    presets, outputs), 1 for a refused input or a failure."""
    if isinstance(exc, (UsageError, SpecError)):
        return 2, _one_line(exc)
    if isinstance(exc, AnyresError):
        return 1, _one_line(exc)
    if isinstance(exc, MemoryError):
        return 1, "out of memory"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return 1, _one_line(f"{where}{exc.strerror or exc}")
    return 1, _one_line(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")


if __name__ == "__main__":
    sys.exit(main())
