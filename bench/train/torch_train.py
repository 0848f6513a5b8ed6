# The PyTorch side of bench/train: the same HF-layout ViT as bench/forward
# (test/fixtures/vit-torch/make_fixture.py) trained on the driver's batch with the
# driver's weights: AdamW (decay on weight matrices only), cross-entropy with label
# smoothing, global-norm clipping. Prints one JSON line: the losses of the first steps
# (for the parity check) and the median seconds per step.
#   /usr/bin/python3 bench/train/torch_train.py <dir> <threads> <min_seconds> <parity_steps>
import json
import os
import struct
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "vit-torch"))
from make_fixture import ViTForImageClassification  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": np.float32, "I32": np.int32}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        data = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtypes[t["dtype"]]).copy()
        out[name] = torch.from_numpy(data).view(t["shape"])
    return out


def main():
    folder, threads, min_seconds, parity_steps = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "recipe.json")) as f:
        recipe = json.load(f)
    weights = read_safetensors(os.path.join(folder, "model.safetensors"))
    batch = read_safetensors(os.path.join(folder, "batch.safetensors"))
    x, y = batch["pixel_values"], batch["labels"].long()

    def fresh():
        model = ViTForImageClassification(config).train()
        model.load_state_dict(weights)
        decay = [p for n, p in model.named_parameters() if n.endswith(".weight") and p.dim() >= 2]
        rest = [p for n, p in model.named_parameters() if not (n.endswith(".weight") and p.dim() >= 2)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe["weightDecay"]}, {"params": rest, "weight_decay": 0.0}],
                                lr=recipe["lr"], betas=(recipe["beta1"], recipe["beta2"]), eps=recipe["eps"])
        return model, opt

    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe["labelSmoothing"])

    def step(model, opt):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["maxGradNorm"])
        opt.step()
        return loss.item()

    model, opt = fresh()
    losses = [step(model, opt) for _ in range(parity_steps)]
    model, opt = fresh()
    step(model, opt)  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        step(model, opt)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "losses": losses,
                      "seconds": sorted(times)[len(times) // 2], "steps": len(times)}))


if __name__ == "__main__":
    main()
