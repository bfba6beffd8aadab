"""Token-stage tests run torch on one thread: their tensors are small, and on a shared
two-core machine intra-op threads spin against other processes (10-20x slower)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
