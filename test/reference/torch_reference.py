"""Reference values from PyTorch for the TypeScript tests (run with a python3 that has torch).

Reads JSON from stdin and writes JSON to stdout:
  {"interpolate": [{"shape": [N,C,H,W], "data": base64 float32, "height": h, "width": w, "method": m}, ...]}
  -> {"interpolate": [base64 float32 result, ...]}

Methods are the project's names, run by the A1111 companion's latent_upscale_companion.interpolation:
torch.nn.functional.interpolate for every torch mode, and ComfyUI's bislerp transcribed from
comfyanonymous/ComfyUI comfy/utils.py (bislerp, slerp). So these tests hold the TypeScript engine, PyTorch and the
companion extension to the same numbers.
"""
import base64
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "a1111-extension"))
from latent_upscale_companion.interpolation import upscale  # noqa: E402


def interpolate(case):
    data = np.frombuffer(base64.b64decode(case["data"]), dtype="<f4").reshape(case["shape"])
    y = upscale(torch.from_numpy(data.copy()), case["height"], case["width"], case["method"])
    return base64.b64encode(y.contiguous().numpy().astype("<f4").tobytes()).decode()


def main():
    request = json.load(sys.stdin)
    json.dump({"torch": torch.__version__, "interpolate": [interpolate(c) for c in request.get("interpolate", [])]}, sys.stdout)


if __name__ == "__main__":
    main()
