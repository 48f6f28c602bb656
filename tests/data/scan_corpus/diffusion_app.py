"""Text-to-image helpers: SD 1.5, ControlNet, SDXL with a LoRA."""
import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    StableDiffusionControlNetPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)

SD15 = "runwayml/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
SD15_URL = "https://huggingface.co/runwayml/stable-diffusion-v1-5/blob/main/v1-5-pruned-emaonly.safetensors"


def txt2img():
    pipe = StableDiffusionPipeline.from_pretrained(SD15, torch_dtype=torch.float16, revision="fp16", safety_checker=None)  # expect: diffusers.StableDiffusionPipeline.from_pretrained ids=runwayml/stable-diffusion-v1-5 rev=fp16
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    return pipe.to("cuda")


def canny_controlnet():
    controlnet = ControlNetModel.from_pretrained("lllyasviel/sd-controlnet-canny", torch_dtype=torch.float16)  # expect: diffusers.ControlNetModel.from_pretrained ids=lllyasviel/sd-controlnet-canny
    return StableDiffusionControlNetPipeline.from_pretrained(SD15, controlnet=controlnet, torch_dtype=torch.float16)  # expect: diffusers.StableDiffusionControlNetPipeline.from_pretrained ids=runwayml/stable-diffusion-v1-5


def sdxl_pixel_art():
    vae = AutoencoderKL.from_pretrained("madebyollin/sdxl-vae-fp16-fix", torch_dtype=torch.float16)  # expect: diffusers.AutoencoderKL.from_pretrained ids=madebyollin/sdxl-vae-fp16-fix
    pipe = StableDiffusionXLPipeline.from_pretrained(SDXL, vae=vae, variant="fp16", use_safetensors=True)  # expect: diffusers.StableDiffusionXLPipeline.from_pretrained ids=stabilityai/stable-diffusion-xl-base-1.0
    pipe.load_lora_weights("nerijs/pixel-art-xl", weight_name="pixel-art-xl.safetensors")  # expect: diffusers.DiffusionPipeline.load_lora_weights ids=nerijs/pixel-art-xl
    return pipe


def scheduler_only():
    return DPMSolverMultistepScheduler.from_pretrained(SD15, subfolder="scheduler")  # expect: diffusers.DPMSolverMultistepScheduler.from_pretrained ids=runwayml/stable-diffusion-v1-5


def single_files():
    pipe = StableDiffusionPipeline.from_single_file(SD15_URL)  # expect: diffusers.StableDiffusionPipeline.from_single_file ids=runwayml/stable-diffusion-v1-5 rev=main
    local = StableDiffusionPipeline.from_single_file("./models/dreamshaper_8.safetensors")
    return pipe, local


def generic(model_id: str = "stabilityai/stable-diffusion-2-1"):
    return DiffusionPipeline.from_pretrained(model_id, torch_dtype=torch.float16)  # expect: diffusers.DiffusionPipeline.from_pretrained ids=stabilityai/stable-diffusion-2-1
