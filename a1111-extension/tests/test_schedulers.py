import unittest

from .helpers import requires_torch, sd1_table

# Check values for 10 steps on SD 1.x's sigma table, worked out from k-diffusion's get_sigmas_*, A1111's
# modules/sd_schedulers.py and ComfyUI's comfy/samplers.py (the service's test/reference/schedules_reference.py
# transcribes the same code and agrees; test/companion/schedules.test.ts holds this package to it).
CHECK_VALUES = {
    "normal": [14.6146, 7.8399, 4.6092, 2.9183, 1.9502, 1.3449, 0.9324, 0.6250, 0.3687, 0.0292, 0],
    "uniform": [14.6146, 7.8399, 4.6092, 2.9183, 1.9502, 1.3449, 0.9324, 0.6250, 0.3687, 0.0292, 0],
    "sgm_uniform": [14.6146, 8.3072, 5.0924, 3.3251, 2.2797, 1.6156, 1.1629, 0.8319, 0.5712, 0.3437, 0],
    "karras": [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292, 0],
    "exponential": [14.6146, 7.3249, 3.6712, 1.8400, 0.9222, 0.4622, 0.2317, 0.1161, 0.0582, 0.0292, 0],
    "polyexponential": [14.6146, 7.3249, 3.6712, 1.8400, 0.9222, 0.4622, 0.2317, 0.1161, 0.0582, 0.0292, 0],
    "simple": [14.6146, 8.3028, 5.0878, 3.3211, 2.2765, 1.6129, 1.1606, 0.8299, 0.5693, 0.3417, 0],
    "ddim_uniform": [8.3907, 5.1344, 3.3478, 2.2929, 1.6237, 1.1682, 0.8357, 0.5741, 0.3462, 0.0413, 0],
    "beta": [14.6146, 11.5428, 7.3718, 4.3728, 2.6152, 1.6183, 1.0273, 0.6549, 0.3955, 0.1991, 0],
    "kl_optimal": [14.6146, 4.2324, 2.3937, 1.5971, 1.1330, 0.8152, 0.5729, 0.3725, 0.1953, 0.0292, 0],
}


@requires_torch
class SchedulerTest(unittest.TestCase):
    def test_check_values(self):
        from latent_upscale_companion.schedulers import schedule

        table = sd1_table()
        for name, expected in CHECK_VALUES.items():
            with self.subTest(name=name):
                sigmas = schedule(name, 10, table).tolist()
                self.assertEqual(len(sigmas), 11)
                for got, want in zip(sigmas, expected):
                    self.assertAlmostEqual(got, want, delta=1.5e-4)

    def test_linear_quadratic_by_hand(self):
        from latent_upscale_companion.schedulers import schedule

        table = sd1_table()
        top = float(table[-1])
        for got, want in zip(schedule("linear_quadratic", 4, table).tolist(), [1, 0.9875, 0.975, 0.725, 0]):
            self.assertAlmostEqual(got, want * top, delta=1e-5)

    def test_align_your_steps(self):
        from latent_upscale_companion.schedulers import ALIGN_YOUR_STEPS, schedule

        table = sd1_table()
        self.assertEqual([round(v, 3) for v in schedule("align_your_steps", 11, table).tolist()], ALIGN_YOUR_STEPS["sd1"] + [0.0])
        doubled = schedule("align_your_steps", 21, table).tolist()
        base = ALIGN_YOUR_STEPS["sd1"]
        for i in range(10):
            self.assertAlmostEqual(doubled[2 * i + 1], (base[i] * base[i + 1]) ** 0.5, delta=1e-5)

    def test_unknown_name_lists_the_allowed(self):
        from latent_upscale_companion.schedulers import schedule

        with self.assertRaisesRegex(ValueError, "unknown scheduler 'cosine' \\(allowed: simple, normal, karras"):
            schedule("cosine", 10, sd1_table())


if __name__ == "__main__":
    unittest.main()
