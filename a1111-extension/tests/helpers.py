import unittest

try:
    import torch
except ImportError:  # the service's CI installs python3-torch; elsewhere say why and skip
    torch = None

requires_torch = unittest.skipIf(torch is None, "PyTorch is not installed (apt-get install python3-torch)")


def sd1_table():
    """SD 1.x sigmas as k-diffusion's CompVisDenoiser stores them: float32, ascending."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0).to(torch.float32)
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
