"""Mistral 3's projector norm + patch merger (``SpatialMerger``) against transformers'
``Mistral3MultiModalProjector`` on patch maps of odd and even sides."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from anyres.errors import CheckpointError, ShapeError  # noqa: E402
from anyres.tokens import SpatialMerger  # noqa: E402
from anyres.tokens.project import MLPProjector  # noqa: E402

from ..tolerance import assert_close_rel  # noqa: E402


@pytest.fixture(scope="module")
def reference():
    from transformers import Mistral3Config
    from transformers.models.mistral3.modeling_mistral3 import Mistral3MultiModalProjector

    config = Mistral3Config(vision_config=dict(model_type="pixtral", hidden_size=8, patch_size=14),
                            text_config=dict(model_type="mistral", hidden_size=12, rms_norm_eps=1e-5))
    torch.manual_seed(0)
    projector = Mistral3MultiModalProjector(config).eval()
    with torch.no_grad():
        projector.norm.weight.normal_(1, 0.1)
    return projector, config


@pytest.mark.parametrize("grid", [(4, 6), (5, 7), (2, 3)])
def test_merger_and_projector_equal_transformers(reference, grid):
    projector, config = reference
    merger = SpatialMerger(8, 2)
    state = {f"model.multi_modal_projector.{k}": v for k, v in projector.state_dict().items()}
    used = merger.load_reference(state, config.to_dict())
    assert merger.norm.eps == 1e-5 and len(used) == 2
    mlp = MLPProjector(8, 12, bias=False)
    mlp.load_state_dict({k: v for k, v in projector.state_dict().items() if k.startswith("linear_")})
    rows, cols = grid
    x = torch.randn(rows * cols, 8)
    with torch.no_grad():
        ref = projector(x, torch.tensor([[rows * 14, cols * 14]]))
        ours = mlp(merger(x.view(rows, cols, 8))).reshape(-1, 12)
    # the same float32 operations on 8-wide vectors, other kernels: a few ulps
    assert ours.shape == ref.shape == ((rows // 2) * (cols // 2), 12)  # an odd last row/column is left out
    assert_close_rel(ours, ref, ulps=16)


def test_refusals():
    merger = SpatialMerger(8, 2)
    with pytest.raises(ShapeError, match="holds no 2x2 block"):
        merger(torch.zeros(1, 5, 8))
    with pytest.raises(CheckpointError, match="lacks the patch merger's multi_modal_projector.norm.weight"):
        merger.load_reference({"multi_modal_projector.patch_merger.merging_layer.weight": torch.zeros(8, 32)})
    with pytest.raises(CheckpointError, match=r"merging_layer.weight: weight of shape \(8, 8\)"):
        merger.load_reference({"multi_modal_projector.norm.weight": torch.ones(8),
                               "multi_modal_projector.patch_merger.merging_layer.weight": torch.zeros(8, 8)})
