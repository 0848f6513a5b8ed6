# The PyTorch side of bench/forward: loads the weights the driver wrote (safetensors, HF
# names), runs the same HF-layout ViT that test/fixtures/vit-torch/make_fixture.py
# defines, on the driver's inputs, and prints one JSON line of timings and logits.
#   /usr/bin/python3 bench/forward/torch_forward.py <dir> <threads> <batches,...> <min_seconds>
import json
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "vit-torch"))
from make_fixture import ViTForImageClassification, read_safetensors  # noqa: E402



def main():
    folder, threads, batches, min_seconds = sys.argv[1], int(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")], float(sys.argv[4])
    torch.set_num_threads(threads)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = ViTForImageClassification(config).eval()
    model.load_state_dict(read_safetensors(os.path.join(folder, "model.safetensors")))
    inputs = read_safetensors(os.path.join(folder, "inputs.safetensors"))["pixel_values"]
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "timings": {}}
    with torch.inference_mode():
        result["logits"] = model(inputs[:4]).reshape(-1).tolist()
        for b in batches:
            x = inputs[:b].contiguous()
            model(x)  # warm-up
            times = []
            start = time.perf_counter()
            while len(times) < 3 or time.perf_counter() - start < min_seconds:
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
            result["timings"][str(b)] = sorted(times)[len(times) // 2]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
