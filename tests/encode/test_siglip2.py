"""The SigLIP2 NaFlex vision tower against transformers' own, on the same random weights,
fed the NaFlex processor's outputs as they are (padded patches, mask, spatial shapes).

A tiny random Siglip2VisionModel (3 layers, width 64, 16 px patches, a 4x4 position table
so that test grids both grow and shrink it) and a Siglip2Model holding one.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import load_encoder  # noqa: E402
from anyres.encode.siglip2 import resized_positions  # noqa: E402
from anyres.errors import ShapeError  # noqa: E402

from .conftest import TEXT, assert_config_refused, assert_limits_reach_the_config, randomize  # noqa: E402
from .test_qwen2_5_vl import close  # noqa: E402

SIGLIP2_VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, num_patches=16,
                      patch_size=16)
SIZES = [(60, 200), (100, 100), (300, 50), (33, 47)]  # (h, w)


@pytest.fixture(scope="module")
def siglip2_vision(tmp_path_factory):
    from transformers import Siglip2VisionConfig, Siglip2VisionModel

    model = randomize(Siglip2VisionModel(Siglip2VisionConfig(**SIGLIP2_VISION)), 31)
    folder = tmp_path_factory.mktemp("siglip2_vision")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def siglip2_model(tmp_path_factory):
    from transformers import Siglip2Config, Siglip2Model

    model = randomize(Siglip2Model(Siglip2Config(text_config=TEXT, vision_config=SIGLIP2_VISION)), 32)
    folder = tmp_path_factory.mktemp("siglip2_model")
    model.save_pretrained(folder)
    return folder, model


def processed(sizes=SIZES, max_num_patches=24, seed=0):
    """The NaFlex processor's (transformers' PIL backend) outputs for random images."""
    import numpy as np
    from PIL import Image
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    batch = Siglip2ImageProcessorPil()(images, return_tensors="pt", max_num_patches=max_num_patches)
    return batch["pixel_values"], batch["pixel_attention_mask"], batch["spatial_shapes"]


def test_vision_folder_equals_last_hidden_state(siglip2_vision):
    folder, ref = siglip2_vision
    encoder = load_encoder(folder)
    assert (encoder.family, encoder.patch_size, encoder.hidden_size, encoder.feature_layer) == ("siglip2", 16, 64, 3)
    pixels, mask, shapes = processed()
    assert len({tuple(s) for s in shapes.tolist()}) == len(SIZES)  # four different grids, padded in one batch
    with torch.no_grad():
        theirs = ref(pixels, mask, shapes).last_hidden_state
        close(encoder.forward_naflex(pixels, mask, shapes), theirs)  # padded rows included
        packed = encoder.forward_naflex(pixels, mask, shapes, packed=True)
        close(packed, theirs[mask.bool()])
        for i in range(len(SIZES)):  # each image alone
            alone = ref(pixels[i : i + 1], mask[i : i + 1], shapes[i : i + 1]).last_hidden_state
            close(encoder.forward_naflex(pixels[i : i + 1], mask[i : i + 1], shapes[i : i + 1]), alone)


def test_dual_encoder_folder_equals_get_image_features(siglip2_model):
    folder, ref = siglip2_model
    encoder = load_encoder(folder)
    pixels, mask, shapes = processed(seed=1, max_num_patches=40)
    with torch.no_grad():
        theirs = ref.get_image_features(pixel_values=pixels, pixel_attention_mask=mask, spatial_shapes=shapes)
        close(encoder.forward_naflex(pixels, mask, shapes), theirs.last_hidden_state)


def test_views_are_the_valid_patches(siglip2_vision):
    """forward_views / forward_features on (3, H, W) views patchify in the processor's
    (p, p, C) order: equal to the NaFlex rows of the same pixels."""
    encoder = load_encoder(siglip2_vision[0])
    pixels, mask, shapes = processed(seed=2)
    p = 16
    views = []
    for x, (h, w) in zip(pixels, shapes.tolist()):  # undo the processor's patchify
        views.append(x[: h * w].reshape(h, w, p, p, 3).permute(4, 0, 2, 1, 3).reshape(3, h * p, w * p))
    with torch.no_grad():
        rows = encoder.forward_naflex(pixels, mask, shapes, packed=True).split([h * w for h, w in shapes.tolist()])
        for ours, theirs, v in zip(encoder.forward_views(views), rows, views):
            close(ours, theirs, rel=1e-5)  # the same packed arithmetic: float32 rounding only
            close(encoder.forward_features(v[None])[0], theirs, rel=1e-5)


@pytest.mark.parametrize("grid", [(4, 4), (3, 8), (12, 2), (1, 1), (7, 5)])
def test_resized_positions_are_transformers(grid):
    from transformers.models.siglip2.modeling_siglip2 import Siglip2VisionEmbeddings

    table = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    theirs = Siglip2VisionEmbeddings.resize_positional_embeddings(table.reshape(4, 4, 8), torch.tensor([grid]), 96)
    assert torch.equal(resized_positions(table, *grid), theirs[0, : grid[0] * grid[1]])


def test_bfloat16_against_float32(siglip2_vision):
    """Ours in bfloat16 no worse than twice transformers' own bfloat16 error (plus 1% of the
    scale for chance differences between two bfloat16 orderings), as for the Qwen towers."""
    folder, ref = siglip2_vision
    encoder = load_encoder(folder, dtype=torch.bfloat16)
    pixels, mask, shapes = processed(seed=3)
    with torch.no_grad():
        exact = ref(pixels, mask, shapes).last_hidden_state[mask.bool()]
        ours = encoder.forward_naflex(pixels, mask, shapes, packed=True)
        low = copy.deepcopy(ref).to(torch.bfloat16)  # the fixture keeps its float32 weights
        theirs = low(pixels.bfloat16(), mask, shapes).last_hidden_state[mask.bool()]
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (theirs.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e}")
    assert ours_err <= 2 * ref_err + 0.01 * scale


def test_to_dtype_and_inputs_follow_the_weights(siglip2_vision):
    encoder = load_encoder(siglip2_vision[0])
    pixels, mask, shapes = processed(seed=4)
    with torch.no_grad():
        exact = encoder.forward_naflex(pixels, mask, shapes)
        wide = encoder.to(torch.float64).forward_naflex(pixels, mask, shapes)
    assert wide.dtype == torch.float64
    close(wide.float(), exact, rel=1e-5)  # float64 vs float32 arithmetic: float32 rounding


def test_malformed_naflex_inputs_are_shape_errors(siglip2_vision):
    encoder = load_encoder(siglip2_vision[0])
    pixels, mask, shapes = processed(seed=5)
    with pytest.raises(ShapeError, match="pixel_values must be"):
        encoder.forward_naflex(pixels[..., :10], mask, shapes)
    with pytest.raises(ShapeError, match="spatial_shapes"):
        encoder.forward_naflex(pixels, mask, shapes[:2])
    with pytest.raises(ShapeError, match="outside 1..24 patches"):
        encoder.forward_naflex(pixels, mask, shapes * 3)
    with pytest.raises(ShapeError, match="first h\\*w patches"):
        encoder.forward_naflex(pixels, mask.flip(-1), shapes, packed=True)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("num_patches", 15, "num_patches=15 is not a square number"),
        ("num_patches", 0, "num_patches=0 must be an integer"),
        ("hidden_size", 66, "hidden_size=66 is not divisible by num_attention_heads=4"),
        ("layer_norm_eps", -1, "layer_norm_eps=-1 must be a finite number in (0, 1]"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(siglip2_vision, tmp_path, field, value, message):
    assert_config_refused(siglip2_vision[0], tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(siglip2_vision):
    assert_limits_reach_the_config(siglip2_vision[0])
