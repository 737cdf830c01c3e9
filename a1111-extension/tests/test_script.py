"""The A1111 script itself, loaded against stand-ins for A1111's `modules.scripts` and gradio.

The stand-ins follow A1111 v1.10.1 where it matters to the script: `Script` is a class of its own, the
runner calls process() inside a try/except that only logs (modules/scripts.py ScriptRunner.process), so a
script that raises leaves the job to run stock; `p.sampler` is None until init() creates it
(modules/processing.py StableDiffusionProcessingImg2Img.init); and init() also resizes the inpainting
mask with interpolate at the same size, in nearest mode (processing.py, the latent_mask), which the patch
must leave alone."""
import importlib.util
import pathlib
import sys
import types
import unittest

from .helpers import requires_torch, sd1_table, torch


def load_script():
    scripts = types.ModuleType("modules.scripts")

    class Script:
        """modules.scripts.Script: the base every script subclasses (its hooks do nothing)."""

        def process(self, p, *args):
            pass

    scripts.Script = Script
    scripts.AlwaysVisible = object()
    modules = types.ModuleType("modules")
    modules.scripts = scripts
    gradio = types.ModuleType("gradio")
    gradio.Checkbox = gradio.Dropdown = lambda *args, **kwargs: (args, kwargs)

    class Accordion:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    gradio.Accordion = Accordion
    sys.modules.update({"modules": modules, "modules.scripts": scripts, "gradio": gradio})
    path = pathlib.Path(__file__).parent.parent / "scripts" / "latent_upscale_companion.py"
    spec = importlib.util.spec_from_file_location("latent_upscale_companion_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeProcessing:
    """What process() touches on StableDiffusionProcessingImg2Img; init() creates the sampler, upscales the
    latent as A1111 v1.10.1 does for resize_mode 3 and resizes the mask at the same size with nearest."""

    def __init__(self, latent, width, height):
        self.init_images = ["image"]
        self.width, self.height = width, height
        self.latent = latent
        self.extra_generation_params = {}
        self.sampler_noise_scheduler_override = None
        self.sd_model = types.SimpleNamespace(is_sdxl=False)
        self.sampler = None

    def init(self, all_prompts, all_seeds, all_subseeds):
        self.sampler = types.SimpleNamespace(model_wrap=types.SimpleNamespace(sigmas=sd1_table()))
        size = (self.height // 8, self.width // 8)
        self.init_latent = torch.nn.functional.interpolate(self.latent, size=size, mode="bilinear")
        self.mask = torch.nn.functional.interpolate(self.latent[:, :1], size=size, mode="nearest")


def run_process(script, p, *args):
    """ScriptRunner.process as A1111 v1.10.1 runs an always-on script: an exception is logged, not raised."""
    errors = []
    try:
        script.process(p, *args)
    except Exception as error:  # noqa: BLE001 (A1111 catches everything here)
        errors.append(error)
    return errors


@requires_torch
class ScriptTest(unittest.TestCase):
    def setUp(self):
        self.script = load_script().LatentUpscaleCompanion()
        self.latent = torch.randn(1, 4, 4, 6, generator=torch.Generator().manual_seed(1))

    def test_always_on_for_img2img_only(self):
        module = sys.modules.get("modules.scripts")
        self.assertIs(self.script.show(True), module.AlwaysVisible)
        self.assertFalse(self.script.show(False))
        self.assertEqual(self.script.title(), "Latent Upscale Companion")

    def test_process_swaps_the_latent_upscale_and_sets_the_schedule(self):
        from latent_upscale_companion.interpolation import upscale
        from latent_upscale_companion.schedulers import schedule

        p = FakeProcessing(self.latent, width=96, height=64)
        original_interpolate = torch.nn.functional.interpolate
        self.assertEqual(run_process(self.script, p, True, "nearest-exact", "karras"), [], "process() needs no sampler yet")
        p.init([], [], [])
        self.assertTrue(torch.equal(p.init_latent, upscale(self.latent, 8, 12, "nearest-exact")))
        self.assertFalse(torch.equal(p.init_latent, upscale(self.latent, 8, 12, "bilinear")))
        self.assertTrue(torch.equal(p.mask, original_interpolate(self.latent[:, :1], size=(8, 12), mode="nearest")), "the mask's resize at the same size is untouched")
        self.assertIs(torch.nn.functional.interpolate, original_interpolate, "the patch is undone after init")
        self.assertTrue(torch.equal(p.sampler_noise_scheduler_override(10), schedule("karras", 10, sd1_table())))
        self.assertEqual(p.extra_generation_params, {"Latent upscale method": "nearest-exact", "Latent upscale schedule": "karras"})

    def test_disabled_or_automatic_leaves_a1111_alone(self):
        p = FakeProcessing(self.latent, width=96, height=64)
        self.script.process(p, False, "bicubic", "karras")
        self.assertEqual(p.init.__func__, FakeProcessing.init)
        p = FakeProcessing(self.latent, width=96, height=64)
        self.script.process(p, True, "bislerp", "automatic")
        self.assertIsNone(p.sampler_noise_scheduler_override)

    def test_bad_args_are_named_and_a1111_runs_the_job_stock(self):
        p = FakeProcessing(self.latent, width=96, height=64)
        errors = run_process(self.script, p, True, "lanczos", "automatic")
        self.assertRegex(str(errors[0]), "unknown method 'lanczos'")
        p.init([], [], [])
        # A1111 goes on: bilinear, its own schedule, and nothing in the infotext says the companion ran,
        # which is how the service tells (src/backends/a1111/payload.ts companionProblem).
        self.assertTrue(torch.equal(p.init_latent, torch.nn.functional.interpolate(self.latent, size=(8, 12), mode="bilinear")))
        self.assertIsNone(p.sampler_noise_scheduler_override)
        self.assertNotIn("Latent upscale method", p.extra_generation_params)


if __name__ == "__main__":
    unittest.main()
