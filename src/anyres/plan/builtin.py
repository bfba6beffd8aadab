"""The built-in presets: each reproduces a released model's processor with its defaults."""

from __future__ import annotations

from .registry import CLIP_MEAN, CLIP_STD, HALF, IMAGENET_MEAN, IMAGENET_STD, PixelSettings, register_preset
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
# Gemma 3, Pixtral, Mistral Small 3.x (transformers 5.23's image processor defaults,
# except where a comment says otherwise)
register_preset(
    "gemma3",
    "pan-and-scan",
    # Gemma3ImageProcessor's class default is 224x224, which no Gemma 3 checkpoint uses: every
    # released one (and the 256-token projector) is 896x896
    pixels=PixelSettings("bilinear", HALF, HALF),
    description="Gemma 3: 896x896 resize, SigLIP 896/14 pooled 4x4 to 256 tokens; do_pan_and_scan=True adds "
    "up to 4 strips of a long image.",
    reference="transformers Gemma3ImageProcessorPil + Gemma3Processor",
)
register_preset(
    "pixtral",
    "pixtral",
    pixels=CLIP,
    description="Pixtral-12B: longest edge within 1024, sides up to multiples of 16, a token a patch, "
    "[IMG_BREAK] after each row, [IMG_END].",
    reference="transformers PixtralImageProcessorPil + PixtralProcessor",
)
register_preset(
    "mistral3",
    "pixtral",
    size={"longest_edge": 1540},
    patch_size=14,
    spatial_merge_size=2,
    pixels=CLIP,
    description="Mistral Small 3.x: longest edge within 1540, sides up to multiples of 28, 2x2 learned "
    "patch merge, [IMG_BREAK] after each row, [IMG_END].",
    reference="transformers PixtralImageProcessorPil + PixtralProcessor (Mistral3)",
)
register_preset(
    "mllama",
    "mllama",
    # MllamaImageProcessor's class default is 224x224; every Llama 3.2 Vision checkpoint uses 560x560
    size={"height": 560, "width": 560},
    pixels=PixelSettings("bilinear", CLIP_MEAN, CLIP_STD),
    description="Llama 3.2 Vision: up to 4 tiles of 560 on the least-scaling canvas, zero padding; "
    "cross-attention to tiles x 1601 states, one image token in the prompt.",
    reference="transformers MllamaImageProcessorPil + MllamaProcessor",
)
register_preset(
    "llama4",
    "llama4",
    pixels=PixelSettings("bilinear", HALF, HALF),
    description="Llama 4: up to 16 tiles of 336 on the least-scaling canvas + global view, pixel shuffle "
    "to 144 tokens a view, tile separators.",
    reference="transformers Llama4ImageProcessor (torchvision only; geometry restated) + Llama4Processor",
)
register_preset(
    "gemma4",
    "gemma4",
    pixels=PixelSettings("bicubic", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # do_normalize=False: rescale only
    description="Gemma 4: up to 280 soft tokens (2520 patches of 16 px) at the image's aspect ratio, "
    "sides multiples of 48, 3x3 pooled.",
    reference="transformers Gemma4ImageProcessorPil + Gemma4Processor",
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
    "a pixel mask; 256 projector tokens. aria(split_image=True): crops of the best split_resolutions entry, each so.",
    reference="transformers AriaImageProcessorPil + AriaProcessor",
)

# --- Ovis2 (families) ---
register_preset(
    "ovis2",
    "ovis2",
    pixels=CLIP,
    description="Ovis2: one 384x384 view (class default; crop_to_patches=True: a 90%-covering grid of up to 12 "
    "tiles after a thumbnail), 256 <IMG_ATOM> a view with <IMG_GRID>/<IMG_COL>/<IMG_ROW> separators.",
    reference="transformers Ovis2ImageProcessorPil + Ovis2Processor",
)

# --- MiniCPM-V 4.6 (families) ---
register_preset(
    "minicpm-v-4.6",
    "minicpm-v-4.6",
    pixels=PixelSettings("bicubic", HALF, HALF),
    description="MiniCPM-V 4.6: a ~448^2 source view + up to 9 slices by log-aspect fit, sides multiples of 56, "
    "one token a 4x4 patch block (downsample_mode 16x), <image>/<slice> wrappers, rows split by newlines.",
    reference="transformers MiniCPMV4_6ImageProcessorPil + MiniCPMV4_6Processor",
)

# --- HunYuan-VL (families) ---
register_preset(
    "hunyuan-vl",
    "hunyuan-vl",
    pixels=CLIP,
    description="HunYuan-VL: smart_resize to multiples of 32 within [512^2, 2048^2] px, patches in raster order; "
    "a token a 2x2 merge plus a newline a row and begin/end embeddings.",
    reference="transformers HunYuanVLImageProcessorPil + HunYuanVLProcessor",
)

# --- DeepSeek-OCR 2 (families) ---
register_preset(
    "deepseek-ocr2",
    "deepseek-ocr2",
    pixels=PixelSettings("bicubic", HALF, HALF),  # the pad grey, background_color 127, is int(0.5 * 255)
    description="DeepSeek-OCR 2: a 1024 global view centred on a grey square + (long side > 768) 2-6 tiles of "
    "768 by nearest aspect; 256 + 144 a tile tokens + a view separator.",
    reference="transformers DeepseekOcr2ImageProcessorPil + DeepseekOcr2Processor",
)

# --- DeepSeek-VL and Janus (families) ---
register_preset(
    "deepseek-vl",
    "deepseek-vl",
    pixels=CLIP,  # the pad colour is int(mean * 255), as the reference computes its background_color
    description="DeepSeek-VL: longest side to 384 (short side >= 14), centred on a mean-colour 384 square; "
    "576 <image_placeholder> (SigLIP 384/16).",
    reference="transformers DeepseekVLImageProcessorPil + DeepseekVLProcessor",
)
register_preset(
    "janus",
    "deepseek-vl",
    image_start_token="<begin_of_image>",
    image_end_token="<end_of_image>",
    pixels=CLIP,
    description="Janus: DeepSeek-VL's 384 padded square, 576 <image_placeholder> inside <begin_of_image> / "
    "<end_of_image>.",
    reference="transformers JanusImageProcessorPil + JanusProcessor",
)
register_preset(
    "deepseek-vl-hybrid",
    "deepseek-vl",
    high_res_size=1024,
    pixels=CLIP,  # both branches: OPENAI_CLIP mean and std (the class defaults), bicubic
    description="DeepSeek-VL hybrid: DeepSeek-VL's rule at 1024 (a mean-colour 1024 square, the SAM branch's "
    "high_res_pixel_values), resized to the 384 view; 576 <image_placeholder> (the high-res features are fused in).",
    reference="transformers DeepseekVLHybridImageProcessorPil + DeepseekVLHybridProcessor",
)
register_preset(
    "glm46v",
    "native",
    min_pixels=112 * 112,
    max_pixels=28 * 28 * 15000,
    small_sides="scale",
    temporal_area=True,
    image_token="<|image|>",
    vision_start_token="<|begin_of_image|>",
    vision_end_token="<|end_of_image|>",
    pixels=CLIP,
    description="GLM-4.6V: GLM-4.1V's image processor and image prompt (transformers 5.23 generates one from the "
    "other): smart_resize counting 2 frames within [112*112, 28*28*15000] px; one token a 2x2 merge.",
    reference="transformers Glm46VImageProcessorPil + Glm46VProcessor",
)
register_preset(
    "ernie4.5-vl",
    "native",
    temporal_patch_size=1,
    min_pixels=56 * 56,
    max_pixels=28 * 28 * 6177,
    image_token="<|IMAGE_PLACEHOLDER|>",  # the tokenizer's image_token (id 100295, as PaddleOCR-VL's)
    pixels=CLIP,
    description="ERNIE-4.5-VL (MoE): Qwen2-VL's smart_resize to multiples of 28 within [56^2, 28^2*6177] px, "
    "one frame a patch (temporal_patch_size 1), one token a 2x2 merge.",
    reference="transformers Ernie4_5_VLMoeImageProcessorPil + Ernie4_5_VLMoeProcessor",
)
register_preset(
    "videollama3",
    "native",
    merge_size=1,
    temporal_patch_size=1,
    min_pixels=56 * 56,
    max_pixels=28 * 28 * 1280,
    merge_sizes_output=True,
    pixels=SIGLIP,  # IMAGENET_STANDARD mean and std: 0.5
    description="VideoLLaMA3 (images): Qwen2-VL's smart_resize to multiples of 14 (merge_size 1 for images) within "
    "[56^2, 28^2*1280] px; one <|image_pad|> a 14 px patch; image_merge_sizes in the output.",
    reference="transformers VideoLlama3ImageProcessorPil + VideoLlama3Processor",
)
