"""Pure functions of the Latent Upscale Companion: latent interpolation and sigma schedules (torch only, no A1111)."""
