"""Spec strings: a preset name with literal keyword arguments, ``"internvl(max_tiles=12)"``,
optionally followed by token reducers, ``"llava-next+pool(2)+visionzip(keep=64)"``."""

from __future__ import annotations

import ast
import warnings
from typing import Any

from ..errors import SpecError

MAX_SPEC_CHARS = 8192  # parsing is linear, but a spec is typed or read from a config


def split_spec(spec: str) -> tuple[str, tuple[tuple[str, tuple, dict[str, Any]], ...]]:
    """``"preset(...)+name(args)+..."`` -> (the preset part, ((name, positional args,
    keyword args), ...) of each reducer in order). A ``+`` inside parentheses or quotes
    belongs to an argument."""
    if not isinstance(spec, str):
        raise SpecError(f"a preset spec must be a string, got {type(spec).__name__}")
    if len(spec) > MAX_SPEC_CHARS:
        raise SpecError(f"preset spec of {len(spec):,} characters; the limit is {MAX_SPEC_CHARS:,}")
    parts, depth, quote, cur = [], 0, "", ""
    for ch in spec:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "+" and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    reducers = []
    for part in parts[1:]:
        name, args, kwargs = _call(part, spec, positional=True)
        reducers.append((name, args, kwargs))
    return parts[0], tuple(reducers)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name(key=literal, ...)"`` into the name and the keyword arguments (of the
    preset part: reducers after ``+`` are ``split_spec``'s).

    Only Python literals are accepted (numbers, strings, booleans, None, tuples,
    lists, dicts): a spec never executes code.
    """
    base, _ = split_spec(spec)
    name, _, kwargs = _call(base, spec, positional=False)
    return name, kwargs


def _call(part: str, spec: str, positional: bool) -> tuple[str, tuple, dict[str, Any]]:
    text = part.strip()
    if "(" not in text:
        if not text:
            raise SpecError(f"empty {'reducer' if positional else 'preset'} in spec {spec!r}")
        return text, (), {}
    name, _, rest = text.partition("(")
    name = name.strip()
    if not name or not rest.rstrip().endswith(")"):
        raise SpecError(f"malformed preset spec {spec!r}: expected 'name(key=value, ...)'")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: ours to report
            warnings.simplefilter("ignore")
            call = ast.parse("f(" + rest, mode="eval").body
    except SyntaxError as exc:
        raise SpecError(f"malformed preset spec {spec!r}: {exc.msg}") from None
    if not isinstance(call, ast.Call) or (call.args and not positional):
        raise SpecError(f"preset spec {spec!r}: arguments must be given as key=value")
    args = []
    for a in call.args:
        try:
            args.append(ast.literal_eval(a))
        except ValueError:
            raise SpecError(f"spec {spec!r}: the arguments of {name!r} must be literals") from None
    kwargs: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise SpecError(f"preset spec {spec!r}: '**' is not allowed")
        if kw.arg in kwargs:
            raise SpecError(f"preset spec {spec!r}: {kw.arg!r} is given more than once")
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise SpecError(
                f"preset spec {spec!r}: the value of {kw.arg!r} is not a literal"
            ) from None
    return name, tuple(args), kwargs


def format_spec(name: str, params: dict[str, Any]) -> str:
    if not params:
        return name
    args = ", ".join(f"{k}={_literal(v)}" for k, v in params.items())
    return f"{name}({args})"


def _literal(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)
