"""The built-in presets: each reproduces a released model's processor with its defaults."""

from __future__ import annotations

from .registry import HALF, IMAGENET_MEAN, IMAGENET_STD, PixelSettings, register_preset
from .strategies.anyres_tiling import ONEVISION_PINPOINTS

CLIP = PixelSettings("bicubic")
SIGLIP = PixelSettings("bicubic", HALF, HALF)

register_preset(
    "fixed",
    "fixed",
    pixels=CLIP,
    description="Plain resize to 336x336 (CLIP ViT-L/14-336): distorts the aspect ratio.",
    reference="CLIP / LLaVA-1.5 without padding",
)
register_preset(
    "fixed-pad",
    "fixed-pad",
    pixels=CLIP,  # pads with int(mean * 255) = (122, 116, 104), as LLaVA-1.5 and transformers do
    description="LLaVA-1.5: centre on a mean-colour square, resize to 336.",
    reference="transformers LlavaImageProcessor(do_pad=True)",
)
register_preset(
    "fixed-crop",
    "fixed-crop",
    pixels=CLIP,
    description="CLIP: shortest side to 336, centre crop 336x336 (drops the borders).",
    reference="transformers CLIPImageProcessor",
)
register_preset(
    "dynamic",
    "dynamic",
    pixels=CLIP,
    description="Nearest supported resolution by aspect ratio (aspect-ratio bucketing), stretch to it.",
    reference="dynamic-resolution bucketing",
)
register_preset(
    "llava-next",
    "anyres",
    pixels=CLIP,
    description="LLaVA-v1.6 AnyRes: 5 pinpoints, 336 tiles + squashed base, unpad + newline (CLIP 336/14).",
    reference="transformers LlavaNextImageProcessorPil + LlavaNextProcessor",
)
register_preset(
    "llava-onevision",
    "anyres",
    base_size=384,
    image_grid_pinpoints=ONEVISION_PINPOINTS,
    feature_select_strategy="full",
    cls_tokens=0,
    max_views=9,
    pixels=SIGLIP,
    description="LLaVA-OneVision anyres_max_9: 384 tiles up to 6x6 (SigLIP 384/14, 729 a view), "
    "feature map shrunk to ~9 views.",
    reference="transformers LlavaOnevisionImageProcessorPil + LlavaOnevisionProcessor",
)
register_preset(
    "internvl",
    "internvl",
    pixels=PixelSettings("bicubic", IMAGENET_MEAN, IMAGENET_STD),
    description="InternVL 2.5/3: 1-12 tiles of 448 by nearest aspect ratio + thumbnail, 256 tokens a tile.",
    reference="transformers GotOcr2ImageProcessorPil(crop_to_patches) + InternVLProcessor",
)
register_preset(
    "qwen2-vl",
    "native",
    pixels=CLIP,
    description="Qwen2-VL native resolution: smart_resize to multiples of 28 within [56*56, 28*28*1280] px.",
    reference="transformers Qwen2VLImageProcessorPil",
)
register_preset(
    "idefics3",
    "idefics3",
    pixels=PixelSettings("lanczos", HALF, HALF),
    description="Idefics3: longest edge 1456, 364 tiles + global view, 169 tokens a view.",
    reference="transformers Idefics3ImageProcessorPil + Idefics3Processor",
)
register_preset(
    "minicpm-v",
    "slicing",
    pixels=SIGLIP,
    description="MiniCPM-V 2.6: source view + up to 9 slices of ~448^2 px, 64 resampler tokens each.",
    reference="MiniCPM-V image_processing_minicpmv (slice_image)",
)
register_preset(
    "llava-uhd",
    "slicing",
    **{
        "scale_resolution": 336,
        "max_slice_nums": 6,
        "style": "llava-uhd",
    },
    pixels=CLIP,
    description="LLaVA-UHD: up to 6 variable slices of ~336^2 px + overview, 64 resampler tokens each.",
    reference="LLaVA-UHD slice logic (partition score)",
)
register_preset(
    "gpt4v",
    "gpt4v",
    pixels=CLIP,
    description="GPT-4V/4o token cost: 85 + 170 per 512 tile (high detail), overlapping tiles.",
    reference="OpenAI vision pricing documentation",
)
register_preset(
    "s2",
    "s2",
    pixels=CLIP,
    description="S2 multi-scale: 336/672/1008 square scales split into 336 views; 576 positions, 3x channels.",
    reference="bfshi/scaling_on_scales s2wrapper + LLaVA-S2",
)
register_preset(
    "budget",
    "budget",
    pixels=CLIP,
    description="Budget planner: the most detail within max_tokens (default 1152): native views of the "
    "inked content, ViT/14 + 2x2..4x4 merge, no padding, no cuts through text.",
    reference="anyres (searches merge level, scale and content regions; see plan/strategies/budget.py)",
)

# ---------------------------------------------------------------- native-resolution families
_VISION_WRAPPERS = {"vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
register_preset(
    "qwen2.5-vl",
    "native",
    min_pixels=3136,
    max_pixels=12845056,
    **_VISION_WRAPPERS,
    pixels=CLIP,
    description="Qwen2.5-VL: smart_resize to multiples of 28 within [3136, 12845056] px (its checkpoints' values), "
    "one token a 2x2 merge, inside the vision_start / vision_end wrappers.",
    reference="transformers Qwen2VLImageProcessorPil + Qwen2_5_VLProcessor",
)
register_preset(
    "qwen3-vl",
    "native",
    patch_size=16,
    min_pixels=65536,
    max_pixels=16777216,
    **_VISION_WRAPPERS,
    pixels=SIGLIP,
    description="Qwen3-VL: patch 16, smart_resize to multiples of 32 within [65536, 16777216] px, mean/std 0.5, "
    "one token a 2x2 merge, inside the vision_start / vision_end wrappers.",
    reference="transformers Qwen2VLImageProcessorPil (Qwen3-VL's preprocessor_config) + Qwen3VLProcessor",
)
register_preset(
    "glm4v",
    "native",
    min_pixels=112 * 112,
    max_pixels=28 * 28 * 15000,
    small_sides="scale",
    temporal_area=True,
    image_token="<|image|>",
    vision_start_token="<|begin_of_image|>",
    vision_end_token="<|end_of_image|>",
    pixels=CLIP,
    description="GLM-4.1V: smart_resize counting 2 frames within [112*112, 28*28*15000] px, small sides scaled up "
    "to 28 first; one token a 2x2 merge.",
    reference="transformers Glm4vImageProcessorPil + Glm4vProcessor",
)
register_preset(
    "paddleocr-vl",
    "native",
    temporal_patch_size=1,
    min_pixels=384 * 384,
    max_pixels=1536 * 1536,
    small_sides="clamp",
    packed_merge_blocks=False,
    image_token="<|IMAGE_PLACEHOLDER|>",
    vision_start_token="<|IMAGE_START|>",
    vision_end_token="<|IMAGE_END|>",
    pixels=CLIP,
    description="PaddleOCR-VL: smart_resize to multiples of 28 within [384^2, 1536^2] px, short sides clamped to 28 "
    "first; patches in raster order, one token a 2x2 merge.",
    reference="transformers PaddleOCRVLImageProcessorPil + PaddleOCRVLProcessor",
)
