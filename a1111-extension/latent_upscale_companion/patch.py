"""Swap A1111's hard-coded bilinear latent upscale for another method while StableDiffusionProcessingImg2Img.init runs."""
from contextlib import contextmanager

import torch

from .interpolation import upscale


@contextmanager
def latent_upscale_method(method, height, width):
    """Within the block, the one interpolate call A1111 makes for resize_mode 3 (bilinear, 4-D, size
    (height//8, width//8), no antialias) uses `method`; every other call passes through unchanged.
    A1111 runs one generation at a time, so the temporary global patch cannot leak into another job."""
    original = torch.nn.functional.interpolate
    target = (height // 8, width // 8)

    def patched(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False):
        if mode == "bilinear" and input.dim() == 4 and size is not None and tuple(size) == target and not antialias and align_corners is None:
            return upscale(input, target[0], target[1], method)
        return original(input, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners,
                        recompute_scale_factor=recompute_scale_factor, antialias=antialias)

    torch.nn.functional.interpolate = patched
    try:
        yield
    finally:
        torch.nn.functional.interpolate = original
