"""pytest plugin that runs transformers' own image-processor test files (vendored, not part of
this repository: see README.md) either as they are or with ``AnyresImageProcessor`` in place of
the reference class.

Loaded by ``harness.py`` with ``-p anyres_hf_upstream_plugin`` in a pytest subprocess whose root
is the vendored tree. Environment:

- ``ANYRES_HF_UPSTREAM_MODE``: ``reference`` (the files as they are) or ``anyres``;
- ``ANYRES_HF_UPSTREAM_PRESET``: the anyres preset whose drop-in replaces the reference class.

Two things happen in both modes alike, so that the comparison stays fair:

- **bridge**: the model folders' files are taken at the newest version the source index holds,
  some written for the common mixin as it was before transformers 5.23 (``setUp`` builds the
  tester; the tester calls ``super().__init__()`` without a parent). The bridge lets the 5.23
  mixin accept them: ``ImageProcessingTester.__init__`` without a parent only looks up the
  processor classes, ``ImageProcessingTestMixin.setUp`` without a tester class leaves the tester
  to the subclass, and ``image_processing_classes`` falls back to the folder's mapping when the
  tester has none (a tester that is not an ``ImageProcessingTester``).
  A pre-5 test class that names its class (``image_processing_class``, ``image_processor_list``)
  gets the same classes under those names.
- **swap** (``anyres`` mode only): every processor class the tests get that is the preset's
  reference class becomes ``anyres.hf.drop_in_class(preset, defaults="reference")``, a subclass
  of ``AnyresImageProcessor`` bound to the preset whose unset arguments are the reference
  class's defaults (same constructor and call arguments, same attributes).
"""

from __future__ import annotations

import os
import pathlib
import sys

_HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE / "shims"))  # parameterized, fetch_hub_objects_for_ci

MODE = os.environ.get("ANYRES_HF_UPSTREAM_MODE", "reference")
PRESET = os.environ.get("ANYRES_HF_UPSTREAM_PRESET")


def _torchvision_free_modules() -> None:
    """Without torchvision, ``transformers.models.<x>.image_processing_<x>`` (the torchvision
    backend's module) cannot be imported, and some test files import a helper from it
    (``select_best_resolution``, ``smart_resize``). Stand in a module that finds such names
    in the family's PIL module, then in transformers' shared image modules (both modes alike)."""
    import importlib
    import re
    import types

    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass
    import transformers.models as models

    folders = [p.name for p in pathlib.Path(models.__file__).parent.iterdir() if p.is_dir()]
    for folder in folders:
        name = f"transformers.models.{folder}.image_processing_{folder}"
        pil = f"transformers.models.{folder}.image_processing_pil_{folder}"
        if importlib.util.find_spec(f"transformers.models.{folder}") is None:
            continue
        package_dir = pathlib.Path(models.__file__).parent / folder
        source_file = package_dir / f"image_processing_{folder}.py"
        if not source_file.is_file() or not re.search(r"^(from|import) torchvision", source_file.read_text(), re.M):
            continue  # importable as it is
        sources = [pil, "transformers.image_processing_utils", "transformers.image_utils",
                   "transformers.image_transforms"]

        def lookup(attr, sources=sources):
            for source in sources:
                try:
                    module = importlib.import_module(source)
                except ImportError:
                    continue
                if hasattr(module, attr):
                    return getattr(module, attr)
            raise AttributeError(attr)

        stub = types.ModuleType(name, "torchvision-free stand-in (anyres hf_upstream harness)")
        stub.__getattr__ = lookup
        sys.modules[name] = stub


_torchvision_free_modules()


def _folder_classes(module_name: str) -> dict:
    """{backend: class} that the 5.23 tester looks up for the test module's folder."""
    from transformers.models.auto.configuration_auto import model_type_to_module_name
    from transformers.models.auto.image_processing_auto import (
        IMAGE_PROCESSOR_MAPPING_NAMES,
        get_image_processor_class_from_name,
    )

    folder = pathlib.Path(sys.modules[module_name].__file__).resolve().parent.name
    names = IMAGE_PROCESSOR_MAPPING_NAMES.get(folder)
    if names is None:
        names = next((c for t, c in IMAGE_PROCESSOR_MAPPING_NAMES.items() if model_type_to_module_name(t) == folder),
                     {})
    return {backend: get_image_processor_class_from_name(name) for backend, name in names.items()}


def _swapped(classes: dict) -> dict:
    if MODE != "anyres":
        return classes
    from anyres.hf import drop_in_class
    from anyres.hf_reference import reference_class

    reference = reference_class(PRESET, lambda params: None)
    bound = drop_in_class(PRESET, defaults="reference")  # unset arguments as the reference class has them
    return {backend: bound if cls is reference else cls for backend, cls in classes.items()}


def _install(common) -> None:
    tester_cls = common.ImageProcessingTester
    mixin = common.ImageProcessingTestMixin
    if getattr(mixin, "_anyres_bridged", False):
        return
    original_init, original_setup = tester_cls.__init__, mixin.setUp
    original_lookup = tester_cls._get_image_processing_classes

    def __init__(self, parent=None, *args, **kwargs):  # noqa: N807
        if parent is None:  # a pre-5.23 tester's super().__init__()
            self.image_processing_classes = self._get_image_processing_classes()
            return
        original_init(self, parent, *args, **kwargs)

    def setUp(self):  # noqa: N802
        if self.image_processor_tester_class is None:  # a pre-5.23 test class builds its tester itself
            return
        original_setup(self)

    def image_processing_classes(self):
        classes = getattr(self.image_processor_tester, "image_processing_classes", None)
        if classes is None:
            classes = _swapped(_folder_classes(type(self).__module__))
        return classes

    def _get_image_processing_classes(self):
        return _swapped(original_lookup(self))

    def image_processor_list(self):  # the pre-5 mixin's name for the same classes
        return list(self.image_processing_classes.values())

    tester_cls.__init__ = __init__
    tester_cls._get_image_processing_classes = _get_image_processing_classes
    mixin.setUp = setUp
    mixin.image_processing_classes = property(image_processing_classes)
    mixin.image_processor_list = property(image_processor_list)
    mixin._anyres_bridged = True


def pytest_collectstart(collector):
    common = sys.modules.get("tests.test_image_processing_common")
    if common is not None:
        _install(common)


def pytest_itemcollected(item):
    common = sys.modules.get("tests.test_image_processing_common")
    if common is not None:
        _install(common)
    cls = getattr(item, "cls", None)
    if cls is not None and "image_processing_class" in vars(cls) and vars(cls)["image_processing_class"] is not None:
        # a pre-5 test class names its one processor class itself
        (swapped,) = _swapped({"pil": vars(cls)["image_processing_class"]}).values()
        cls.image_processing_class = swapped
    if cls is not None and getattr(cls, "image_processing_tester_class", None) is not None:
        # a later spelling of image_processor_tester_class (and of image_processor_tester)
        if getattr(cls, "image_processor_tester_class", None) is None:
            cls.image_processor_tester_class = cls.image_processing_tester_class
        if not hasattr(cls, "image_processing_tester"):
            cls.image_processing_tester = property(lambda self: self.image_processor_tester)
    module = getattr(item, "module", None)
    if module is not None and MODE == "anyres":  # a test that names the PIL class directly
        for name, value in list(vars(module).items()):
            if isinstance(value, type):
                (swapped,) = _swapped({"pil": value}).values()
                if swapped is not value:
                    setattr(module, name, swapped)
