"""Runs the A1111 companion extension's schedule() (a1111-extension/latent_upscale_companion/schedulers.py)
for test/companion/schedules.test.ts, which holds its output to test/reference/schedules_reference.py.

stdin {"table": [1000 ascending sigmas], "cases": [{"scheduler", "steps", "family"}, ...]} -> stdout [[n+1 sigmas], ...]
"""
import json
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "a1111-extension"))
from latent_upscale_companion.schedulers import schedule  # noqa: E402

request = json.load(sys.stdin)
table = torch.tensor(request["table"], dtype=torch.float32)
json.dump([schedule(c["scheduler"], c["steps"], table, family=c.get("family", "sd1")).tolist() for c in request["cases"]], sys.stdout)
