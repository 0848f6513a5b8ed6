"""The reference pipeline's side of bench/fusion: runs the published transformer-fusion
code (its otfusion package, from a checkout given by path) on the same two models and
the same fusion samples as our side, with torch and POT on the CPU, and prints one JSON
line with the time of each stage.

    /usr/bin/python3 bench/fusion/reference_side.py <reference-checkout> <work-dir> <threads>

<work-dir> holds what the driver wrote: model_0/ and model_1/ (config.json +
model.safetensors), samples.safetensors (pixel_values, labels) and args.json (the
experiment config as the reference reads it). The reference code is imported from the
checkout, never copied; our models are plain-PyTorch ViTs with Hugging Face's module
names (test/fixtures/vit-torch/make_fixture.py), which is what its hooks and weight
dictionaries key on.
"""
import json
import logging
import os
import resource
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "vit-torch"))
from make_fixture import ViTForImageClassification, read_safetensors  # noqa: E402



def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = ViTForImageClassification(config).eval()
    model.load_state_dict(read_safetensors(os.path.join(folder, "model.safetensors")))
    model.config = config  # the reference's model_to_dict stores it alongside the weights
    return model


def main():
    reference, work, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    sys.path.insert(0, os.path.join(reference, "otfusion"))
    sys.path.insert(0, reference)
    from otfusion.hf_vit_fusion import hf_vit_fusion  # noqa: E402
    from otfusion.utils import get_activations, model_to_dict  # noqa: E402
    logging.disable(logging.CRITICAL)
    # Its debug statistics are computed even when not logged and ask for the terminal's
    # width; the benchmark runs without a terminal, so answer for one.
    os.get_terminal_size = lambda *_: os.terminal_size((120, 40))

    with open(os.path.join(work, "args.json")) as f:
        args = json.load(f)
    models = [load_model(os.path.join(work, f"model_{i}")) for i in range(2)]
    samples = read_safetensors(os.path.join(work, "samples.safetensors"))
    pixels, labels = samples["pixel_values"], samples["labels"].long()
    # The reference feeds its activation samples one at a time (a DataLoader of batch size 1).
    loader = [{"pixel_values": pixels[i:i + 1], "labels": labels[i:i + 1]} for i in range(pixels.shape[0])]

    timings = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        acts = get_activations(args=args, models=models, dataloader=loader, LOGGING_LEVEL=logging.CRITICAL, device=torch.device("cpu"))
        timings["activations"] = time.perf_counter() - t0
        weights = {"model_1": model_to_dict(models[1]), "model_0": model_to_dict(models[0])}
        t0 = time.perf_counter()
        fused = hf_vit_fusion(args=args, weights=weights, acts={"model_1": acts["model_1"], "model_0": acts["model_0"]},
                              alpha=0.5, device=torch.device("cpu"), LOGGING_LEVEL=logging.CRITICAL)
        timings["fusion"] = time.perf_counter() - t0
    # A fingerprint of the result so the driver can compare it with ours.
    w = fused["vit"]["encoder"]["layer"]["0"]["intermediate"]["dense"]["weight"]
    print(json.dumps({
        "timings": timings, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "layer0MlpInNorm": float(w.norm()),
    }))


if __name__ == "__main__":
    main()
