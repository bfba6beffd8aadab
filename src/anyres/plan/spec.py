"""Spec strings: a preset name with literal keyword arguments, ``"internvl(max_tiles=12)"``."""

from __future__ import annotations

import ast
import warnings
from typing import Any

from ..errors import SpecError

MAX_SPEC_CHARS = 8192  # parsing is linear, but a spec is typed or read from a config


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name(key=literal, ...)"`` into the name and the keyword arguments.

    Only Python literals are accepted (numbers, strings, booleans, None, tuples,
    lists, dicts): a spec never executes code.
    """
    if not isinstance(spec, str):
        raise SpecError(f"a preset spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"preset spec of {len(text):,} characters; the limit is {MAX_SPEC_CHARS:,}")
    if "(" not in text:
        if not text:
            raise SpecError("empty preset spec")
        return text, {}
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
    if not isinstance(call, ast.Call) or call.args:
        raise SpecError(f"preset spec {spec!r}: arguments must be given as key=value")
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
    return name, kwargs


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
