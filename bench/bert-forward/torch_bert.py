# The PyTorch side of bench/bert-forward: loads the weights and inputs the driver wrote
# (safetensors, HF names), builds the same HF-layout BERT that
# test/fixtures/bert-torch/make_fixture.py defines, and prints one JSON line with the
# median time of each case and a few logits for the correctness check.
#   /usr/bin/python3 bench/bert-forward/torch_bert.py <dir> <threads> <min_seconds>
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "bert-torch"))
from make_fixture import BertForMaskedLM, BertForSequenceClassification, read_safetensors  # noqa: E402


def load(folder, cls):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = cls(config).eval()
    state = read_safetensors(os.path.join(folder, "model.safetensors"))
    if cls is BertForMaskedLM:
        state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]  # tied
    model.load_state_dict(state)
    return model


def median_time(run, min_seconds):
    run()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    folder, threads, min_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    mlm = load(os.path.join(folder, "mlm"), BertForMaskedLM)
    clf = load(os.path.join(folder, "classifier"), BertForSequenceClassification)
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "timings": {}, "logits": {}}
    with torch.inference_mode():
        for shape in ("full", "padded"):
            x = read_safetensors(os.path.join(folder, f"inputs-{shape}.safetensors"))
            ids, types, mask = x["input_ids"].long(), x["token_type_ids"].long(), x["attention_mask"].long()
            labels = x["labels"].long()
            vocab = mlm.cls.predictions.decoder.weight.shape[0]
            result["logits"][f"mlm-{shape}"] = mlm(ids[:2], types[:2], mask[:2]).reshape(-1)[:4096].tolist()
            result["logits"][f"classifier-{shape}"] = clf(ids, types, mask).reshape(-1).tolist()
            result["timings"][f"mlm-{shape}"] = median_time(lambda: mlm(ids, types, mask), min_seconds)
            # What an HF evaluation runs: every logit, then the loss over the masked tokens.
            result["timings"][f"mlm-loss-{shape}"] = median_time(
                lambda: F.cross_entropy(mlm(ids, types, mask).view(-1, vocab), labels.view(-1), ignore_index=-100),
                min_seconds)
            result["timings"][f"classifier-{shape}"] = median_time(lambda: clf(ids, types, mask), min_seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
