"""PyTorch's side of bench/gemm: times torch.matmul on the shapes given on stdin (JSON)."""
import json, sys, time
import torch

req = json.load(sys.stdin)
torch.set_num_threads(req["threads"])
out = []
for m, n, k in req["shapes"]:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(m, k, generator=g)
    b = torch.rand(k, n, generator=g)
    torch.matmul(a, b)  # warm-up
    reps, start = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        reps += 1
        if time.perf_counter() - start > req["seconds"]:
            break
    out.append((time.perf_counter() - start) / reps)
json.dump({"seconds": out, "config": torch.__config__.parallel_info().splitlines()[0:4]}, sys.stdout)
