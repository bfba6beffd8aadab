"""What anyres reproduces of each model family, as data the README's coverage table is
computed from (``coverage_table``) and ``tests/test_coverage.py`` holds to account.

Each ``Family`` names its preset, its transformers ``model_type`` and vision tower
``model_type``, and the test files that check it: ``plan_test`` compares plans
(grid, ``num_tokens``, layout) with the reference processor on thousands of sizes
(``plan_check="processor"``) or restates its formulas against its pure helpers
(``"formula"``, for references that need torchvision or ship no image processor);
``pixel_test`` compares ``preprocess(output="hf")`` with the transformers PIL
processor; ``tower_test`` runs ``VisionPipeline.from_preset(preset, folder)`` against the
model's own ``get_image_features``. The table derives the rest from the registries:
whether the pixel layer refuses the strategy, and whether ``anyres.encode``'s tower
registry loads the family's tower (the others run on a stand-in tower). A test checks that every claimed test file exists and
names the preset, so the table cannot claim a test that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    family: str
    preset: str | None  # None: no preset yet
    model_type: str  # transformers' model_type ("" when the family is not a transformers model)
    tower: str = ""  # the model_type of its vision tower in transformers ("" when it has none there)
    plan_check: str = ""  # "processor", "formula" or ""
    plan_test: str = ""  # tests/... that checks the plans
    pixel_test: str = ""  # tests/... that checks output="hf" against the PIL processor
    note: str = ""
    # tests/... where VisionPipeline.from_preset(preset, folder) equals the model's own
    # get_image_features on a tiny random transformers model of the family
    tower_test: str = ""


P, F = "processor", "formula"
PLAN, PLAN_N, PLAN_F = "tests/plan/test_parity.py", "tests/plan/test_parity_native.py", "tests/plan/test_parity_families.py"
PLAN_OM, PIX_DH = "tests/plan/test_parity_ovis_minicpm.py", "tests/pixels/test_hf_parity_deepseek_hunyuan.py"
PLAN_GP, PLAN_FC = "tests/plan/test_parity_gemma_pixtral.py", "tests/plan/test_parity_fit_canvas.py"
PLAN_G4, PLAN_IS = "tests/plan/test_parity_gemma4.py", "tests/plan/test_parity_idefics_siglip.py"
PLAN_FORM = "tests/plan/test_formulas.py"
PIX, PIX_N, PIX_F = "tests/pixels/test_hf_parity.py", "tests/pixels/test_hf_parity_native.py", "tests/pixels/test_hf_parity_families.py"
PIX_GP, PIX_IS = "tests/pixels/test_hf_parity_gemma_pixtral.py", "tests/pixels/test_hf_parity_idefics_siglip.py"
E2E, E2E_IS, E2E_PX = "tests/pipeline/test_parity.py", "tests/pipeline/test_idefics3_siglip2.py", "tests/pipeline/test_pixtral.py"
E2E_Q25, E2E_Q3 = "tests/encode/test_qwen2_5_vl.py", "tests/encode/test_qwen3_vl.py"
E2E_G3, E2E_IV = "tests/encode/test_gemma3.py", "tests/encode/test_internvl.py"

FAMILIES: tuple[Family, ...] = (
    Family("CLIP", "fixed-crop", "clip", "clip_vision_model"),
    Family("LLaVA-1.5", "fixed-pad", "llava", "clip_vision_model"),
    Family("LLaVA-NeXT", "llava-next", "llava_next", "clip_vision_model", P, PLAN, PIX, tower_test=E2E),
    Family("LLaVA-OneVision", "llava-onevision", "llava_onevision", "siglip_vision_model", P, PLAN, PIX, tower_test=E2E),
    Family("InternVL3", "internvl", "internvl", "internvl_vision", P, PLAN, PIX, tower_test=E2E_IV),
    Family("InternVL3.5", "internvl3.5", "internvl", "internvl_vision", P, PLAN_IS, PIX_IS, tower_test=E2E_IV),
    Family("Qwen2-VL", "qwen2-vl", "qwen2_vl", "qwen2_vl_vision", P, PLAN, PIX, tower_test=E2E),
    Family("Qwen2.5-VL", "qwen2.5-vl", "qwen2_5_vl", "qwen2_5_vl_vision", P, PLAN_N, PIX_N, tower_test=E2E_Q25),
    Family("Qwen3-VL", "qwen3-vl", "qwen3_vl", "qwen3_vl_vision", P, PLAN_N, PIX_N, tower_test=E2E_Q3),
    Family("GLM-4.1V", "glm4v", "glm4v", "glm4v_vision", P, PLAN_N, PIX_N),
    Family("GLM-4.6V", "glm46v", "glm46v", "glm46v_vision", P, PLAN_N, PIX_N),
    Family("ERNIE-4.5-VL", "ernie4.5-vl", "ernie4_5_vl_moe", "ernie4_5_vl_moe_vision", P, PLAN_N, PIX_N,
           note="placeholders only: the chat template's image start/end tokens are not in the layout"),
    Family("VideoLLaMA3", "videollama3", "video_llama_3", "video_llama_3_vision", P, PLAN_N, PIX_N,
           note="images only (merge_size 1); videos are not planned"),
    Family("PaddleOCR-VL", "paddleocr-vl", "paddleocr_vl", "paddleocr_vl_vision", P, PLAN_N, PIX_N),
    Family("Idefics3", "idefics3", "idefics3", "idefics3_vision", P, PLAN, PIX, tower_test=E2E_IS),
    Family("SmolVLM2", "smolvlm", "smolvlm", "smolvlm_vision", P, PLAN_IS, PIX_IS, tower_test=E2E_IS),
    Family("Idefics2", "idefics2", "idefics2", "idefics2_vision", P, PLAN_IS, PIX_IS),
    Family("SigLIP2 NaFlex", "siglip2", "siglip2", "siglip2_vision_model", P, PLAN_IS, PIX_IS,
           tower_test=E2E_IS),
    Family("Gemma 3", "gemma3", "gemma3", "siglip_vision_model", P, PLAN_GP, PIX_GP, tower_test=E2E_G3),
    Family("Gemma 4", "gemma4", "gemma4", "gemma4_vision", P, PLAN_G4, PIX_GP),
    Family("Pixtral", "pixtral", "llava", "pixtral", P, PLAN_GP, PIX_GP, tower_test=E2E_PX),
    Family("Mistral Small 3.x", "mistral3", "mistral3", "pixtral", P, PLAN_GP, PIX_GP, tower_test=E2E_PX),
    Family("Llama 3.2 Vision", "mllama", "mllama", "mllama_vision_model", P, PLAN_FC, PIX_GP),
    Family("Llama 4", "llama4", "llama4", "llama4_vision_model", F, PLAN_FC,
           note="image processor needs torchvision: geometry restated, tested against its helpers"),
    Family("Aria", "aria", "aria", "idefics3_vision", P, PLAN_IS, PIX_IS,
           note="split_image=True as a parameter: aria(split_image=True)"),
    Family("Ovis2", "ovis2", "ovis2", "ovis2_vision", P, PLAN_OM, PIX_F),
    Family("MiniCPM-V 4.6", "minicpm-v-4.6", "minicpmv4_6", "minicpmv4_6_vision", P, PLAN_OM, PIX_F),
    Family("HunYuan-VL", "hunyuan-vl", "hunyuan_vl", "hunyuan_vl_vision", P, PLAN_F, PIX_DH),
    Family("DeepSeek-OCR 2", "deepseek-ocr2", "deepseek_ocr2", "deepseek_ocr2_vision", P, PLAN_F, PIX_DH),
    Family("MiniCPM-V 2.6", "minicpm-v", "", plan_check=F, plan_test=PLAN_FORM,
           note="original repository's slice_image restated (no transformers processor)"),
    Family("LLaVA-UHD", "llava-uhd", "", plan_check=F, plan_test=PLAN_FORM,
           note="original repository's slicing restated (no transformers processor)"),
    # families of issue 12 that anyres does not reach yet
    Family("DeepSeek-VL", "deepseek-vl", "deepseek_vl", "siglip_vision_model", P, PLAN_F, PIX_DH),
    Family("Janus", "janus", "janus", "janus_vision_model", P, PLAN_F, PIX_DH),
    Family("DeepSeek-VL hybrid", "deepseek-vl-hybrid", "deepseek_vl_hybrid", "siglip_vision_model", P, PLAN_F, PIX_DH,
           note="the SAM high-res branch's pixels (high_res_pixel_values); its tower is not in anyres"),
    Family("Granite Docling", None, "granite_docling",
           note="PIL processor in transformers 5.23 (512 tiles, up to 32, its own spread rule); no preset yet"),
    Family("Cosmos3-Edge", None, "cosmos3_edge", note="PIL processor in transformers 5.23; no preset yet"),
    Family("GLM-5-Next", None, "glm5_next", note="PIL processor in transformers 5.23; no preset yet"),
    Family("GLM-Image", None, "glm_image", note="PIL processor in transformers 5.23; no preset yet"),
    Family("GLMGA", None, "glmga", note="PIL processor in transformers 5.23; no preset yet"),
    Family("Cohere Compass", None, "cohere_compass", note="PIL processor in transformers 5.23; no preset yet"),
    Family("LFM2-VL", None, "lfm2_vl", note="no PIL image processor in transformers 5.23 (torchvision only)"),
    Family("Phi-4-multimodal", None, "phi4_multimodal", note="no PIL image processor in transformers 5.23"),
    Family("Kimi-K2.5", None, "kimi_k25", note="no PIL image processor in transformers 5.23"),
    Family("Molmo2", None, "molmo2", note="no PIL image processor in transformers 5.23"),
    Family("Cohere2-Vision", None, "cohere2_vision", note="no PIL image processor in transformers 5.23"),
)


def tower_support(f: Family) -> str:
    """``verified (<tower family>)`` when a test runs the preset's pipeline on the family's
    own tower against the model's ``get_image_features``; ``loads (<tower family>)`` when
    ``anyres.encode``'s tower registry reads the family's tower; else ``stand-in`` (a CLIP
    or Qwen tower of the preset's patch size serves the pipeline)."""
    import anyres.encode  # noqa: F401  (registers the towers)
    from ..encode.towers import tower_types

    towers = tower_types()
    if f.tower in towers:
        return f"{'verified' if f.tower_test else 'loads'} ({towers[f.tower]})"
    return "stand-in" if f.preset else "-"


def pixel_support(f: Family) -> str:
    from ..pixels.processor_outputs import HF_OUTPUTS
    from ..plan import get_preset

    if f.preset is None:
        return "-"
    if not HF_OUTPUTS.supports(get_preset(f.preset).strategy):
        return "refused (no transformers processor)"
    if f.pixel_test:
        return "max diff 0"
    return "untested"


def plan_support(f: Family) -> str:
    if f.preset is None:
        return "-"
    if f.plan_check == "processor":
        return "tested vs processor"
    if f.plan_check == "formula":
        return "formula"
    return "untested"


def status(f: Family) -> str:
    if f.preset is None:
        return "missing"
    if f.plan_check == "processor" and f.pixel_test:
        return "exact"
    if f.plan_check:
        return "plan exact, pixels untested" if f.plan_check == "processor" else "formula"
    return "preset only"


def coverage_table() -> str:
    lines = ["| family | preset | plan parity | pixel parity | tower | status | tested in | note |",
             "|---|---|---|---|---|---|---|---|"]
    for f in FAMILIES:
        tests = ", ".join(t.rsplit("/", 1)[1] for t in dict.fromkeys((f.plan_test, f.pixel_test, f.tower_test)) if t)
        preset = f"`{f.preset}`" if f.preset else "-"
        lines.append(f"| {f.family} | {preset} | {plan_support(f)} | {pixel_support(f)} | {tower_support(f)} | "
                     f"{status(f)} | {tests or '-'} | {f.note} |")
    return "\n".join(lines)


__all__ = ["FAMILIES", "Family", "coverage_table"]
