"""Shared fixtures: one OCR reader for the whole session, cached in a session folder."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def reader(tmp_path_factory):
    pytest.importorskip("rapidocr_onnxruntime")
    from anyres.eval import ViewReader

    return ViewReader("rapidocr", 1.0, tmp_path_factory.mktemp("ocr-cache"))
