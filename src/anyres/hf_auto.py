"""``AutoImageProcessor`` / ``AutoProcessor`` find ``AnyresImageProcessor`` after ``import anyres``.

A saved ``preprocessor_config.json`` names ``"image_processor_type": "AnyresImageProcessor"``;
transformers resolves such a name among the classes registered with
``AutoImageProcessor.register``. Registering needs transformers (and so torch) imported,
which ``import anyres`` must not do. So ``import anyres`` registers at once when
transformers' auto module is already loaded, and otherwise leaves a finder on
``sys.meta_path`` that registers right after that module is first executed. Nothing here
imports transformers itself; ``register()`` does, when called.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

AUTO_MODULE = "transformers.models.auto.image_processing_auto"
_state: dict[str, Any] = {}


def register() -> None:
    """Register ``AnyresImageProcessor`` with ``AutoImageProcessor`` (idempotent)."""
    if _state.get("registered"):
        return
    from transformers import AutoImageProcessor, PretrainedConfig

    from .hf import AnyresImageProcessor

    class AnyresImageProcessorConfig(PretrainedConfig):
        """The key ``AutoImageProcessor.register`` files AnyresImageProcessor under (no model)."""

        model_type = "anyres"

    AutoImageProcessor.register(AnyresImageProcessorConfig, image_processor_classes={
        "pil": AnyresImageProcessor, "torchvision": AnyresImageProcessor}, exist_ok=True)
    _state["registered"] = True


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of transformers' auto module so that
    ``register()`` runs once the module has executed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != AUTO_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            _remove_finder()
            try:
                register()
            except Exception as exc:  # never break transformers' import over it
                import warnings

                warnings.warn(f"anyres could not register AnyresImageProcessor with AutoImageProcessor: {exc}",
                              stacklevel=2)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterImport)]


def install() -> None:
    """Register now if transformers' auto module is loaded, else once it is."""
    if AUTO_MODULE in sys.modules:
        try:
            register()
        except Exception:  # a transformers without this API: AnyresImageProcessor still works directly
            pass
        return
    if not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
