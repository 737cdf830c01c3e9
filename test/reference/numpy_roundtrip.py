"""numpy side of the .npy interop test: `write DIR` saves arrays the way users do; `check DIR` loads ours."""
import json
import sys

import numpy as np


def sample(dtype):
    return (np.arange(2 * 4 * 3 * 5, dtype=np.float64).reshape(2, 4, 3, 5) / 8 - 7).astype(dtype)


def main():
    mode, folder = sys.argv[1], sys.argv[2]
    if mode == "write":
        np.save(f"{folder}/numpy-f4.npy", sample(np.float32))
        np.save(f"{folder}/numpy-f2.npy", sample(np.float16))
        np.save(f"{folder}/numpy-f8.npy", sample(np.float64))
        np.save(f"{folder}/numpy-fortran.npy", np.asfortranarray(sample(np.float32)))
        print(json.dumps({"ok": True}))
    else:
        f4 = np.load(f"{folder}/ours-f4.npy")
        f2 = np.load(f"{folder}/ours-f2.npy")
        print(json.dumps({
            "f4": f4.dtype == np.float32 and f4.shape == (2, 4, 3, 5) and bool((f4 == sample(np.float32)).all()),
            "f2": f2.dtype == np.float16 and f2.shape == (2, 4, 3, 5) and bool((f2 == sample(np.float16)).all()),
        }))


if __name__ == "__main__":
    main()
