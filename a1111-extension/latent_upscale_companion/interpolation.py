"""Latent upscale methods, named as the latent-upscale service and the original extension name them.

Every torch mode is torch.nn.functional.interpolate itself; bislerp is ComfyUI's (comfy/utils.py), written
from that algorithm: each cell's channel vector is slerped between the two nearest source cells (norms lerped),
width pass then height pass.
"""
import torch

# Captured at import so the companion's temporary patch of torch.nn.functional.interpolate never calls itself.
_interpolate = torch.nn.functional.interpolate

# name -> (torch mode, antialias); linear and trilinear are the extension's names that mean bilinear on 4-D latents.
TORCH_MODES = {
    "nearest": ("nearest", False),
    "nearest-exact": ("nearest-exact", False),
    "bilinear": ("bilinear", False),
    "bilinear-antialiased": ("bilinear", True),
    "bicubic": ("bicubic", False),
    "bicubic-antialiased": ("bicubic", True),
    "area": ("area", False),
    "linear": ("bilinear", False),
    "trilinear": ("bilinear", False),
}
METHODS = list(TORCH_MODES) + ["bislerp"]


def upscale(latent, height, width, method):
    """Resize an NCHW latent to height x width cells with the named method."""
    if method == "bislerp":
        return bislerp(latent, width, height)
    if method not in TORCH_MODES:
        raise ValueError(f"unknown method {method!r} (allowed: {', '.join(METHODS)})")
    mode, antialias = TORCH_MODES[method]
    return _interpolate(latent, size=(height, width), mode=mode, antialias=antialias)


def _slerp(b1, b2, r):
    channels = b1.shape[-1]
    n1 = torch.norm(b1, dim=-1, keepdim=True)
    n2 = torch.norm(b2, dim=-1, keepdim=True)
    u1 = b1 / n1
    u2 = b2 / n2
    u1[n1.expand(-1, channels) == 0.0] = 0.0
    u2[n2.expand(-1, channels) == 0.0] = 0.0
    dot = (u1 * u2).sum(1)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    out = (torch.sin((1.0 - r.squeeze(1)) * omega) / sin_omega).unsqueeze(1) * u1 + (torch.sin(r.squeeze(1) * omega) / sin_omega).unsqueeze(1) * u2
    out *= (n1 * (1.0 - r) + n2 * r).expand(-1, channels)
    out[dot > 1 - 1e-5] = b1[dot > 1 - 1e-5]
    out[dot < 1e-5 - 1] = (b1 * (1.0 - r) + b2 * r)[dot < 1e-5 - 1]
    return out


def _pairs(old, new, device):
    """Left cell, right cell and ratio per output index: bilinear interpolation of arange(old)."""
    left = _interpolate(torch.arange(old, dtype=torch.float32, device=device).reshape(1, 1, 1, -1), size=(1, new), mode="bilinear")
    ratios = left - left.floor()
    shifted = torch.arange(old, dtype=torch.float32, device=device).reshape(1, 1, 1, -1) + 1
    shifted[:, :, :, -1] -= 1
    right = _interpolate(shifted, size=(1, new), mode="bilinear")
    return ratios, left.to(torch.int64), right.to(torch.int64)


def _slerp_axis(samples, length, axis):
    """One pass of bislerp along the last (axis=-1) or second to last (axis=-2) dimension."""
    n, c, h, w = samples.shape
    ratios, left, right = _pairs(w if axis == -1 else h, length, samples.device)
    out_h, out_w = (h, length) if axis == -1 else (length, w)
    shape = (1, 1, 1, -1) if axis == -1 else (1, 1, -1, 1)
    left = left.reshape(shape).expand((n, c, out_h, out_w))
    right = right.reshape(shape).expand((n, c, out_h, out_w))
    ratios = ratios.reshape(shape).expand((n, 1, out_h, out_w))
    first = samples.gather(axis, left).movedim(1, -1).reshape((-1, c))
    second = samples.gather(axis, right).movedim(1, -1).reshape((-1, c))
    result = _slerp(first, second, ratios.movedim(1, -1).reshape((-1, 1)))
    return result.reshape(n, out_h, out_w, c).movedim(-1, 1)


def bislerp(samples, width, height):
    dtype = samples.dtype
    samples = samples.float()
    return _slerp_axis(_slerp_axis(samples, width, -1), height, -2).to(dtype)
