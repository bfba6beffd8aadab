"""The error types anyres raises. Every public error is an ``AnyresError``."""

from __future__ import annotations


class AnyresError(Exception):
    """Base class of every error anyres raises on purpose."""


class PlanError(AnyresError, ValueError):
    """A strategy cannot serve this input size (the message names the size and the limit)."""


class SpecError(AnyresError, ValueError):
    """A preset name, spec string or parameter is not valid."""


class ArgumentTypeError(SpecError, TypeError):
    """An argument refused for its name or type, where the transformers class that anyres
    stands in for raises ``TypeError`` (so code written for either catches it)."""


class ImageError(AnyresError, ValueError):
    """An image could not be decoded safely (the message names the source and the reason)."""


class ShapeError(AnyresError, ValueError):
    """Tensors given to anyres do not have the shapes the plan calls for (the message names both)."""


class WorkerError(AnyresError, RuntimeError):
    """A worker process died (killed, out of memory); the message says what was lost."""


class CheckpointError(AnyresError, ValueError):
    """A model folder cannot be loaded (the message names the folder and what is wrong with it)."""
