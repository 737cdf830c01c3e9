"""Latent Upscale Companion: an always-on img2img script that the latent-upscale service drives through
/sdapi/v1/img2img's alwayson_scripts (the original "Latent Upscale" script returns None from run(), which
A1111's API cannot handle). Args: [enabled, method, scheduler]. Fix steps comes from override_settings."""
import gradio as gr
from modules import scripts

from latent_upscale_companion.interpolation import METHODS
from latent_upscale_companion.patch import latent_upscale_method
from latent_upscale_companion.schedulers import SCHEDULERS, schedule

SCHEDULER_CHOICES = ["automatic"] + list(SCHEDULERS)


class LatentUpscaleCompanion(scripts.Script):
    def title(self):
        return "Latent Upscale Companion"

    def show(self, is_img2img):
        return scripts.AlwaysVisible if is_img2img else False

    def ui(self, is_img2img):
        with gr.Accordion("Latent Upscale Companion", open=False):
            enabled = gr.Checkbox(label="Enable (resize mode: Just resize (latent upscale))", value=False)
            method = gr.Dropdown(METHODS, label="Upscale method", value="nearest-exact")
            scheduler = gr.Dropdown(SCHEDULER_CHOICES, label="Scheduler", value="automatic")
        return [enabled, method, scheduler]

    def process(self, p, enabled=False, method="nearest-exact", scheduler="automatic"):
        if not enabled or not hasattr(p, "init_images"):
            return
        if method not in METHODS:
            raise ValueError(f"Latent Upscale Companion: unknown method {method!r} (allowed: {', '.join(METHODS)})")
        if scheduler not in SCHEDULER_CHOICES:
            raise ValueError(f"Latent Upscale Companion: unknown scheduler {scheduler!r} (allowed: {', '.join(SCHEDULER_CHOICES)})")
        original_init = p.init

        def init(*args, **kwargs):
            with latent_upscale_method(method, p.height, p.width):
                return original_init(*args, **kwargs)

        p.init = init
        p.extra_generation_params["Latent upscale method"] = method
        if scheduler != "automatic":
            family = "sdxl" if getattr(p.sd_model, "is_sdxl", False) else "sd1"
            # k-diffusion samplers call this with the step count (already +1 where A1111 drops the penultimate sigma).
            p.sampler_noise_scheduler_override = lambda steps: schedule(scheduler, steps, p.sampler.model_wrap.sigmas.cpu(), family)
            p.extra_generation_params["Latent upscale schedule"] = scheduler
