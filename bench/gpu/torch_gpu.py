# The PyTorch side of bench/gpu/run.sh: the same ViT shapes as tf_gpu_bench (7 layers,
# 65 tokens, hidden 192 and 384; the HF-layout module of test/fixtures/vit-torch) timed
# on the GPU for the forward pass (batch 64 and 256) and a training step (AdamW, batch
# 128); the same BERT masked-LM shapes (test/fixtures/bert-torch's module) for a forward
# pass with the loss as an HF evaluation computes it (every logit, then the
# cross-entropy of the labelled tokens), on full-length and right-padded batches; and a
# log-domain Sinkhorn written in torch with the core's stopping rule (every 10th
# iteration, ||plan column sums - b||_2 < 1e-9, at most 1000 iterations), float64, at
# n = 1024 and 4096 (reg 0.01 on a fusion-like cost in [0, 1]). Forward passes and
# training steps run in float32, with TF32 matmuls, and under bfloat16 autocast, beside
# tf_gpu_bench's fp32 / tf32 / bf16 GEMM precisions. Writes <out>/torch.json in
# tf_gpu_bench's row format.
# Without torch or a GPU it writes why and exits 0.
#   python3 bench/gpu/torch_gpu.py [--out DIR] [--quick]
import contextlib
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
rows = []


def add(group, case, impl, value, unit, note=""):
    rows.append({"group": group, "case": case, "device": "cuda", "impl": impl, "value": value, "unit": unit, "note": note})
    print(f"  {group:<10} {case:<34} cuda  {impl:<16} {value:12.4g} {unit:<10} {note}", flush=True)


def timed(fn, sync, warmup=2, min_reps=5, min_seconds=0.5, max_reps=1000):
    for _ in range(warmup):
        fn()
    sync()
    reps, t0 = 0, time.perf_counter()
    while reps < max_reps and (reps < min_reps or time.perf_counter() - t0 < min_seconds):
        fn()
        sync()
        reps += 1
    return (time.perf_counter() - t0) / reps


def fixture_module(name):
    """test/fixtures/<name>/make_fixture.py as a module of its own: both fixtures' files are
    called make_fixture, and `from make_fixture import ...` would give the second caller
    the first one's module from sys.modules."""
    import importlib.util

    path = os.path.join(ROOT, "test", "fixtures", name, "make_fixture.py")
    spec = importlib.util.spec_from_file_location(f"make_fixture_{name.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def precisions(torch):
    """Yields (name, context) for each GEMM precision tf_gpu_bench times: float32, TF32
    matmuls, and bfloat16 autocast (the usual way to put torch's matmuls on BF16 tensor
    cores; the activations between them are then bfloat16 as well)."""
    for name in ("f32", "tf32", "bf16"):
        torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
        torch.backends.cudnn.allow_tf32 = name == "tf32"
        yield name, torch.autocast("cuda", dtype=torch.bfloat16) if name == "bf16" else contextlib.nullcontext()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def vit_config(hidden, layers):
    return {
        "image_size": 32, "patch_size": 4, "num_channels": 3, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": hidden // 64, "intermediate_size": 4 * hidden, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "qkv_bias": True, "id2label": {str(i): str(i) for i in range(10)},
    }


def bench_vit(torch, quick):
    ViTForImageClassification = fixture_module("vit-torch").ViTForImageClassification

    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    hiddens, batches, layers = ([64], [8], 2) if quick else ([192, 384], [64, 256], 7)
    for h in hiddens:
        torch.manual_seed(0)
        model = ViTForImageClassification(vit_config(h, layers)).to(dev)
        shape = f"h{h} L{layers}"
        for b in batches:
            x = torch.randn(b, 3, 32, 32, device=dev)
            for p, ctx in precisions(torch):
                model.eval()
                with torch.inference_mode(), ctx:
                    t = timed(lambda: model(x), sync)
                add("vit", f"{shape} forward B={b}", f"torch {p}", b / t, "images/s", "eager")
        tb = 8 if quick else 128
        x = torch.randn(tb, 3, 32, 32, device=dev)
        y = torch.arange(tb, device=dev) % 10
        for p, ctx in precisions(torch):
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
            loss_fn = torch.nn.CrossEntropyLoss()

            def step():
                opt.zero_grad(set_to_none=True)
                with ctx:
                    loss = loss_fn(model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()

            t = timed(step, sync)
            add("train", f"{shape} train step B={tb}", f"torch {p}", t * 1e3, "ms/step", "eager")


def bench_bert(torch, quick):
    BertForMaskedLM = fixture_module("bert-torch").BertForMaskedLM
    import torch.nn.functional as F

    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    # (hidden, layers, heads, vocab, batch, tokens), as tf_gpu_bench's bench_bert.
    shapes = [(64, 2, 2, 500, 8, 32)] if quick else [(768, 12, 12, 30522, 32, 128), (96, 2, 4, 2048, 256, 64)]
    for h, layers, heads, vocab, batch, tokens in shapes:
        config = {
            "model_type": "bert", "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": 4 * h, "hidden_act": "gelu",
            "max_position_embeddings": max(tokens, 64), "type_vocab_size": 2, "layer_norm_eps": 1e-12,
            "pad_token_id": 0,
        }
        torch.manual_seed(0)
        model = BertForMaskedLM(config).to(dev).eval()
        for padded in (False, True):
            gen = torch.Generator().manual_seed(batch * tokens)
            lengths = torch.tensor([tokens - (q * 7) % (tokens // 2) if padded else tokens for q in range(batch)])
            mask = (torch.arange(tokens)[None, :] < lengths[:, None]).long()
            ids = torch.randint(0, vocab, (batch, tokens), generator=gen) * mask
            chosen = (torch.rand(batch, tokens, generator=gen) < 0.15) & (mask == 1)
            labels = torch.where(chosen, torch.randint(0, vocab, (batch, tokens), generator=gen), -100)
            ids, types, mask, labels = ids.to(dev), torch.zeros_like(ids).to(dev), mask.to(dev), labels.to(dev)

            def run():
                logits = model(ids, types, mask)
                return F.cross_entropy(logits.view(-1, vocab), labels.view(-1), ignore_index=-100)

            case = f"h{h} L{layers} mlm B{batch} T{tokens} {'padded' if padded else 'full'}"
            for p, ctx in precisions(torch):
                with torch.inference_mode(), ctx:
                    t = timed(run, sync)
                add("bert", case, f"torch {p}", batch / t, "seq/s", "eager; every logit, then the loss")


def sinkhorn_log(torch, a, b, cost, reg, max_iter=1000, tol=1e-9, check_every=10):
    """The log-domain Sinkhorn iteration (v then u each iteration), float64, with the core's stopping rule."""
    log_a, log_b = torch.log(a), torch.log(b)
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    neg = -cost / reg
    it = 0
    while it < max_iter:
        g = reg * (log_b - torch.logsumexp(neg + (f / reg)[:, None], dim=0))
        f = reg * (log_a - torch.logsumexp(neg + (g / reg)[None, :], dim=1))
        it += 1
        if (it - 1) % check_every == 0:
            cols = torch.exp(neg + (f / reg)[:, None] + (g / reg)[None, :]).sum(dim=0)
            if torch.linalg.vector_norm(cols - b).item() < tol:
                break
    return torch.exp(neg + (f / reg)[:, None] + (g / reg)[None, :]), it


def bench_sinkhorn(torch, quick):
    dev = torch.device("cuda")
    reg = 0.01
    for n in ([128] if quick else [1024, 4096]):
        # tf_gpu_bench's cost shape: squared distances to a noisy permutation (16
        # features), divided by the largest (torch's generator, so not the same numbers).
        gen = torch.Generator(device="cpu").manual_seed(n)
        x = torch.randn(n, 16, generator=gen, dtype=torch.float64)
        y = x[torch.randperm(n, generator=gen)] + 0.3 * torch.randn(n, 16, generator=gen, dtype=torch.float64)
        cost = torch.cdist(x, y) ** 2
        cost = (cost / cost.max()).to(dev)
        a = torch.full((n,), 1.0 / n, dtype=torch.float64, device=dev)
        its = [0]

        def run():
            its[0] = sinkhorn_log(torch, a, a, cost, reg)[1]

        t = timed(run, torch.cuda.synchronize, warmup=1, min_reps=3, max_reps=20)
        add("sinkhorn", f"n={n} reg {str(reg)[:4]}", "torch f64 log", t * 1e3, "ms", f"{its[0]} iterations")
        bench_pot_sinkhorn(torch, a, cost, reg, n)


def bench_pot_sinkhorn(torch, a, cost, reg, n):
    """POT's own solvers on the GPU (its torch backend, POT >= 0.8), when python3 has POT."""
    try:
        import ot
    except Exception as e:  # noqa: BLE001 - no POT: no rows
        print(f"POT not importable ({e}): no POT GPU Sinkhorn")
        return
    for method in ("sinkhorn", "sinkhorn_log"):
        def run():
            ot.sinkhorn(a, a, cost, reg, method=method, numItermax=1000, stopThr=1e-9)

        try:
            t = timed(run, torch.cuda.synchronize, warmup=1, min_reps=3, max_reps=20)
        except Exception as e:  # noqa: BLE001 - an old POT without the torch backend
            print(f"POT {ot.__version__} {method} on torch CUDA tensors failed: {e}")
            return
        add("sinkhorn", f"n={n} reg {str(reg)[:4]}", f"pot {method}", t * 1e3, "ms", f"POT {ot.__version__}, torch backend")


def main():
    out, quick = "gpu-results", False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--out" and args:
            out = args.pop(0)
        elif a == "--quick":
            quick = True
        else:
            print("usage: torch_gpu.py [--out DIR] [--quick]", file=sys.stderr)
            return 2
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "torch.json")
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no torch side
        json.dump({"available": False, "reason": f"torch not importable: {e}", "rows": []}, open(path, "w"))
        print(f"torch not importable ({e}); wrote {path}")
        return 0
    if not torch.cuda.is_available():
        json.dump({"available": False, "reason": "torch sees no CUDA device", "torch": torch.__version__, "rows": []},
                  open(path, "w"))
        print(f"torch {torch.__version__} sees no CUDA device; wrote {path}")
        return 0
    name = torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__} on {name}")
    t0 = time.perf_counter()
    for part in (bench_vit, bench_bert, bench_sinkhorn):
        try:
            part(torch, quick)
        except Exception as e:  # noqa: BLE001 - report and go on with the next part
            print(f"  {part.__name__} failed: {e}")
            rows.append({"group": "error", "case": part.__name__, "device": "cuda", "impl": "torch", "value": None,
                         "unit": "", "note": str(e)[:200]})
        # Written after every part: run.sh's timeout may stop a later one, and the rows
        # measured so far must still reach the summary.
        with open(path, "w") as f:
            json.dump({"available": True, "torch": torch.__version__, "gpu": name,
                       "seconds": time.perf_counter() - t0, "rows": rows}, f, indent=1)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
