"""torch.randn references: stdin [{"seed", "shapes": [[...], ...]}] -> stdout [[base64 float32 per shape], ...], successive draws after one manual_seed."""
import base64
import json
import sys

import torch

results = []
for case in json.load(sys.stdin):
    generator = torch.Generator().manual_seed(int(case["seed"]))
    results.append([base64.b64encode(torch.randn(shape, generator=generator).numpy().astype("<f4").tobytes()).decode() for shape in case["shapes"]])
json.dump(results, sys.stdout)
