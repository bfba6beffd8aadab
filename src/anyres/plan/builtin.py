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
register_preset(
    "smolvlm",
    "idefics3",
    pixels=PixelSettings("lanczos", HALF, HALF),
    description="SmolVLM2: Idefics3's rule and prompt; class defaults longest edge 1456, 364 tiles + global "
    "view, 169 tokens a view (SmolVLM2-2.2B ships size 1536, max_image_size 384, image_seq_len 81).",
    reference="transformers SmolVLMImageProcessorPil + SmolVLMProcessor",
)
register_preset(
    "idefics2",
    "idefics2",
    pixels=PixelSettings("bilinear", HALF, HALF),
    description="Idefics2: each view clamped to [378, 980] px a side (do_image_splitting: 4 quarters + the "
    "image), 64 perceiver-resampler tokens a view.",
    reference="transformers Idefics2ImageProcessorPil + Idefics2Processor",
)
register_preset(
    "siglip2",
    "naflex",
    pixels=PixelSettings("bilinear", HALF, HALF),
    description="SigLIP2 NaFlex: the largest aspect-preserving grid of 16 px patches within max_num_patches=256, "
    "padded to 256 with a mask; one token a valid patch.",
    reference="transformers Siglip2ImageProcessorPil",
)
register_preset(
    "internvl3.5",
    base="internvl",
    description="InternVL3.5: InternVL's 1-12 tiles of 448 + thumbnail, 256 tokens a tile (the -HF checkpoints' "
    "GotOcr2 settings, same as InternVL3).",
    reference="transformers GotOcr2ImageProcessorPil(crop_to_patches) + InternVLProcessor",
)
register_preset(
    "aria",
    "aria",
    pixels=PixelSettings("bicubic", HALF, HALF),
    description="Aria (split_image=False): longest side to 980, short side >= 336, zero-padded to 980x980 with "
    "a pixel mask; 256 projector tokens.",
    reference="transformers AriaImageProcessorPil + AriaProcessor",
)
