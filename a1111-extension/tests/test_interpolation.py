import math
import unittest

from .helpers import requires_torch, torch


@requires_torch
class InterpolationTest(unittest.TestCase):
    def test_nearest_exact_repeats_cells(self):
        from latent_upscale_companion.interpolation import upscale

        x = torch.arange(2 * 4 * 2 * 3, dtype=torch.float32).reshape(2, 4, 2, 3)
        y = upscale(x, 4, 6, "nearest-exact")
        self.assertTrue(torch.equal(y, x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)))

    def test_aliases_are_bilinear(self):
        from latent_upscale_companion.interpolation import upscale

        x = torch.randn(1, 4, 5, 7, generator=torch.Generator().manual_seed(0))
        for alias in ("linear", "trilinear"):
            self.assertTrue(torch.equal(upscale(x, 9, 11, alias), upscale(x, 9, 11, "bilinear")))

    def test_bislerp_keeps_unit_length(self):
        from latent_upscale_companion.interpolation import upscale

        # Pixels (1, 0) and (0, 1): width 2 -> 4 gives ratios 0, 1/4, 3/4 and the right cell, all of length 1.
        x = torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 2, 1, 2)
        y = upscale(x, 1, 4, "bislerp")
        for i, r in enumerate([0, 0.25, 0.75, 1]):
            self.assertAlmostEqual(float(y[0, 0, 0, i]), math.cos(r * math.pi / 2), delta=1e-6)
            self.assertAlmostEqual(float(y[0, 1, 0, i]), math.sin(r * math.pi / 2), delta=1e-6)

    def test_unknown_method(self):
        from latent_upscale_companion.interpolation import upscale

        with self.assertRaisesRegex(ValueError, "unknown method 'lanczos' \\(allowed: nearest, nearest-exact"):
            upscale(torch.zeros(1, 4, 2, 2), 4, 4, "lanczos")


if __name__ == "__main__":
    unittest.main()
