"""Reference values from PyTorch for the TypeScript tests (run with a python3 that has torch).

Reads JSON from stdin and writes JSON to stdout:
  {"interpolate": [{"shape": [N,C,H,W], "data": base64 float32, "height": h, "width": w, "method": m}, ...]}
  -> {"interpolate": [base64 float32 result, ...]}

Methods are the project's names: torch.nn.functional.interpolate for every torch mode, and ComfyUI's
bislerp (comfy/utils.py) transcribed from the algorithm in shared/reference/latent-math.md section 3.3.
"""
import base64
import json
import sys

import numpy as np
import torch

TORCH_MODES = {
    "nearest": ("nearest", False),
    "nearest-exact": ("nearest-exact", False),
    "bilinear": ("bilinear", False),
    "linear": ("bilinear", False),
    "trilinear": ("bilinear", False),
    "bilinear-antialiased": ("bilinear", True),
    "bicubic": ("bicubic", False),
    "bicubic-antialiased": ("bicubic", True),
    "area": ("area", False),
}


def slerp(b1, b2, r):
    c = b1.shape[-1]
    n1 = torch.norm(b1, dim=-1, keepdim=True)
    n2 = torch.norm(b2, dim=-1, keepdim=True)
    u1 = b1 / n1
    u2 = b2 / n2
    u1[n1.expand(-1, c) == 0.0] = 0.0
    u2[n2.expand(-1, c) == 0.0] = 0.0
    dot = (u1 * u2).sum(1)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    res = (torch.sin((1.0 - r.squeeze(1)) * omega) / so).unsqueeze(1) * u1 + (torch.sin(r.squeeze(1) * omega) / so).unsqueeze(1) * u2
    res *= (n1 * (1.0 - r) + n2 * r).expand(-1, c)
    res[dot > 1 - 1e-5] = b1[dot > 1 - 1e-5]
    res[dot < 1e-5 - 1] = (b1 * (1.0 - r) + b2 * r)[dot < 1e-5 - 1]
    return res


def bilinear_data(length_old, length_new):
    coords_1 = torch.arange(length_old, dtype=torch.float32).reshape((1, 1, 1, -1))
    coords_1 = torch.nn.functional.interpolate(coords_1, size=(1, length_new), mode="bilinear")
    ratios = coords_1 - coords_1.floor()
    coords_1 = coords_1.to(torch.int64)
    coords_2 = torch.arange(length_old, dtype=torch.float32).reshape((1, 1, 1, -1)) + 1
    coords_2[:, :, :, -1] -= 1
    coords_2 = torch.nn.functional.interpolate(coords_2, size=(1, length_new), mode="bilinear")
    return ratios, coords_1, coords_2.to(torch.int64)


def bislerp(samples, width, height):
    n, c, h, w = samples.shape
    ratios, coords_1, coords_2 = bilinear_data(w, width)
    coords_1 = coords_1.expand((n, c, h, -1))
    coords_2 = coords_2.expand((n, c, h, -1))
    ratios = ratios.expand((n, 1, h, -1))
    pass_1 = samples.gather(-1, coords_1).movedim(1, -1).reshape((-1, c))
    pass_2 = samples.gather(-1, coords_2).movedim(1, -1).reshape((-1, c))
    result = slerp(pass_1, pass_2, ratios.movedim(1, -1).reshape((-1, 1)))
    result = result.reshape(n, h, width, c).movedim(-1, 1)

    ratios, coords_1, coords_2 = bilinear_data(h, height)
    coords_1 = coords_1.reshape((1, 1, -1, 1)).expand((n, c, -1, width))
    coords_2 = coords_2.reshape((1, 1, -1, 1)).expand((n, c, -1, width))
    ratios = ratios.reshape((1, 1, -1, 1)).expand((n, 1, -1, width))
    pass_1 = result.gather(-2, coords_1).movedim(1, -1).reshape((-1, c))
    pass_2 = result.gather(-2, coords_2).movedim(1, -1).reshape((-1, c))
    result = slerp(pass_1, pass_2, ratios.movedim(1, -1).reshape((-1, 1)))
    return result.reshape(n, height, width, c).movedim(-1, 1)


def interpolate(case):
    data = np.frombuffer(base64.b64decode(case["data"]), dtype="<f4").reshape(case["shape"])
    x = torch.from_numpy(data.copy())
    if case["method"] == "bislerp":
        y = bislerp(x, case["width"], case["height"])
    else:
        mode, antialias = TORCH_MODES[case["method"]]
        y = torch.nn.functional.interpolate(x, size=(case["height"], case["width"]), mode=mode, antialias=antialias)
    return base64.b64encode(y.contiguous().numpy().astype("<f4").tobytes()).decode()


def main():
    request = json.load(sys.stdin)
    json.dump({"torch": torch.__version__, "interpolate": [interpolate(c) for c in request.get("interpolate", [])]}, sys.stdout)


if __name__ == "__main__":
    main()
