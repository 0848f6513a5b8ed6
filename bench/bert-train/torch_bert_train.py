# The PyTorch side of bench/bert-train: the same HF-layout BertForMaskedLM as
# bench/bert-forward (test/fixtures/bert-torch/make_fixture.py) trained on the driver's
# masked batch from the driver's weights: AdamW (decay on linear weight matrices only),
# the masked-LM cross-entropy (ignore_index -100), global-norm clipping. Two ways to run
# the head: as HF's BertForMaskedLM does (logits for every token, then the loss), and
# decoding the labelled tokens only (what the native trainer does). Prints one JSON line:
# the losses of the first steps (parity check) and the median seconds per step of each.
#   /usr/bin/python3 bench/bert-train/torch_bert_train.py <dir> <threads> <min_seconds> <parity_steps>
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "bert-torch"))
from make_fixture import BertForMaskedLM, read_safetensors  # noqa: E402


def main():
    folder, threads, min_seconds, parity_steps = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "recipe.json")) as f:
        recipe = json.load(f)
    weights = read_safetensors(os.path.join(folder, "model.safetensors"))
    weights["cls.predictions.decoder.weight"] = weights["bert.embeddings.word_embeddings.weight"]  # tied
    batch = read_safetensors(os.path.join(folder, "batch.safetensors"))
    ids, types, mask, labels = (batch[k].long() for k in ("input_ids", "token_type_ids", "attention_mask", "labels"))
    vocab = config["vocab_size"]
    selected = labels.view(-1) != -100

    def fresh():
        model = BertForMaskedLM(config).train()
        model.load_state_dict(weights)
        named = list(model.named_parameters())
        decays = lambda n, p: n.endswith(".weight") and p.dim() >= 2 and "embeddings" not in n  # noqa: E731
        groups = [{"params": [p for n, p in named if decays(n, p)], "weight_decay": recipe["weightDecay"]},
                  {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=recipe["lr"], betas=(recipe["beta1"], recipe["beta2"]), eps=recipe["eps"])
        return model, opt

    def loss_all(model):
        return F.cross_entropy(model(ids, types, mask).view(-1, vocab), labels.view(-1), ignore_index=-100)

    def loss_selected(model):
        hidden = model.bert(ids, types, mask).view(-1, config["hidden_size"])[selected]
        return F.cross_entropy(model.cls(hidden), labels.view(-1)[selected])

    def step(model, opt, loss_fn):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["maxGradNorm"])
        opt.step()
        return loss.item()

    model, opt = fresh()
    losses = [step(model, opt, loss_all) for _ in range(parity_steps)]
    seconds = {}
    for name, fn in (("all", loss_all), ("selected", loss_selected)):
        model, opt = fresh()
        step(model, opt, fn)  # warm-up
        times = []
        start = time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            step(model, opt, fn)
            times.append(time.perf_counter() - t0)
        seconds[name] = sorted(times)[len(times) // 2]
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "losses": losses, "seconds": seconds}))


if __name__ == "__main__":
    main()
