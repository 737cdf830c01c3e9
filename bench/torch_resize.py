"""Times the companion's methods (torch.nn.functional.interpolate, and ComfyUI's bislerp in torch) for bench/resize.ts.

Reads {"repeats": R, "cases": [{"method": m, "size": [from, to]}, ...]} on stdin; writes
{"torch": version, "threads": n, "ms": [median ms per case]} on stdout. Inputs are 1x4 latents of
sin(0.37 i) * 2, as the TypeScript side uses; the output is built and discarded, as the engine's is.
"""
import json
import pathlib
import sys
import time

import os

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "a1111-extension"))
from latent_upscale_companion.interpolation import upscale  # noqa: E402


def median_ms(run, repeats):
    for _ in range(3):  # warm-up runs, as bench/statistics.ts does
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    torch.set_num_threads(os.cpu_count())  # the engine uses every core too
    request = json.load(sys.stdin)
    timings = []
    for case in request["cases"]:
        size, target = case["size"]
        x = (torch.sin(torch.arange(4 * size * size, dtype=torch.float32) * 0.37) * 2).reshape(1, 4, size, size)
        timings.append(median_ms(lambda: upscale(x, target, target, case["method"]), request["repeats"]))
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": timings}, sys.stdout)


if __name__ == "__main__":
    main()
