# Joins what bench/gpu/run.sh produced in <out> (native.json from tf_gpu_bench,
# torch.json from torch_gpu.py, ctest.txt, build timings in steps.txt) into one table:
# <out>/summary.txt and <out>/summary.json. Standard library only.
#   python3 bench/gpu/summarize.py <out>
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def find(rows, group, case, device, impl):
    for r in rows:
        if r["group"] == group and r["case"] == case and r["device"] == device and r["impl"] == impl:
            return r["value"]
    return None


def ctest_summary(path):
    try:
        text = open(path).read()
    except OSError:
        return {"ran": False}
    out = {"ran": True}
    m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", text)
    if m:
        out.update(passed_percent=int(m.group(1)), failed=int(m.group(2)), total=int(m.group(3)))
    out["native_cuda"] = ("skipped" if re.search(r"native_cuda \.+\s*\*+Skipped", text)
                          else "passed" if re.search(r"native_cuda \.+\s+Passed", text)
                          else "failed" if "native_cuda" in text else "absent")
    out["cuda_cases_failed"] = re.findall(r"^\d+: (?:FAIL|CRASH) (.+)$", text, re.M)
    # Per-test lines of the CUDA run, prefixed with native_cuda's number in ctest's
    # numbering (its place in CMakeLists.txt: 4 today, after the three CPU runs).
    m = re.search(r"Start\s+(\d+): native_cuda\b", text)
    number = m.group(1) if m else "4"
    cuda = [(m.group(1).strip(), m.group(2))
            for m in re.finditer(rf"^{number}: (ok  |FAIL|CRASH|skip) (.+)$", text, re.M)]
    out["cuda_tests"] = [{"status": st, "name": name} for st, name in cuda]
    # Comparisons over their bound, with their worst error.
    out["over_bound"] = re.findall(r"^\d+:\s+(.+<- over the bound)$", text, re.M)
    m = re.search(r"SKIPPED: (.+)", text)
    if m:
        out["skip_reason"] = m.group(1).strip()
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "gpu-results"
    native = load(os.path.join(out, "native.json")) or {"rows": [], "gpu": None, "reason": "tf_gpu_bench did not run"}
    torch = load(os.path.join(out, "torch.json")) or {"available": False, "reason": "torch_gpu.py did not run", "rows": []}
    tests = ctest_summary(os.path.join(out, "ctest.txt"))
    rows = list(native.get("rows", [])) + list(torch.get("rows", []))

    comparisons = []

    def ratio(label, num, den, target=None):
        if num is None or den is None or not den:
            return
        r = num / den
        c = {"comparison": label, "ratio": round(r, 3)}
        if target:
            c["target"] = target
            c["meets_target"] = r >= target
        comparisons.append(c)

    for n in ("1024", "4096"):
        case = f"n={n} reg 0.01"
        cpu = find(rows, "sinkhorn", case, "cpu", "ours scaling")
        ratio(f"Sinkhorn n={n}: cpu ms / gpu (f64 cost) ms", cpu, find(rows, "sinkhorn", case, "cuda", "ours f64 cost"), 50)
        ratio(f"Sinkhorn n={n}: cpu ms / gpu (f32 cost) ms", cpu, find(rows, "sinkhorn", case, "cuda", "ours f32 cost"), 50)
        ratio(f"Sinkhorn n={n}: cpu ms / gpu (float32 kernel mode) ms", cpu, find(rows, "sinkhorn", case, "cuda", "ours f32 kernel"), 50)
        ratio(f"Sinkhorn n={n}: torch ms / ours (f64 cost) ms", find(rows, "sinkhorn", case, "cuda", "torch f64 log"),
              find(rows, "sinkhorn", case, "cuda", "ours f64 cost"))
        for method in ("sinkhorn", "sinkhorn_log"):
            ratio(f"Sinkhorn n={n}: POT {method} on the GPU ms / ours (f64 cost) ms",
                  find(rows, "sinkhorn", case, "cuda", f"pot {method}"), find(rows, "sinkhorn", case, "cuda", "ours f64 cost"))

    def forward_ratios(label, group, case, unit):
        for p in ("f32", "tf32", "bf16"):
            ratio(f"{label} {case}, {p}: ours gpu / torch gpu {unit}", find(rows, group, case, "cuda", f"ours {p}"),
                  find(rows, group, case, "cuda", f"torch {p}"))
        ratio(f"{label} {case}: ours gpu f32 / ours cpu {unit}", find(rows, group, case, "cuda", "ours f32"),
              find(rows, group, case, "cpu", "ours"))

    for h in ("192", "384"):
        for b in ("64", "256"):
            forward_ratios("ViT", "vit", f"h{h} L7 forward B={b}", "images/s")
        case = f"h{h} L7 train step B=128"
        for p in ("f32", "tf32", "bf16"):
            ratio(f"train {case}, {p}: torch ms / ours ms", find(rows, "train", case, "cuda", f"torch {p}"),
                  find(rows, "train", case, "cuda", f"ours {p}"))

    # The whole fusion run (bench/fusion/run.ts): activations + fusion, ours on each device.
    fusion = {}
    for dev in ("cuda", "cpu", "cuda-one-by-one"):
        path = os.path.join(out, f"fusion-{dev}.json")
        if os.path.exists(path):
            with open(path) as f:
                fusion[dev] = json.load(f)
    if "cuda" in fusion and "cpu" in fusion:
        total = {d: sum(fusion[d]["seconds"].get(k, 0) for k in ("activations", "fusion")) for d in fusion}
        config = fusion["cuda"]["config"]
        name = "ViT-B/16-sized pair" if "vitb" in config else os.path.basename(config)
        for dev in ("cuda", "cpu"):
            sec = fusion[dev]["seconds"]
            rows.append({"group": "fusion", "case": name, "device": dev, "impl": "ours", "value": total[dev], "unit": "s",
                         "note": f"activations {sec.get('activations', 0):.2f} s, fusion {sec.get('fusion', 0):.2f} s, "
                                 f"peak RSS {fusion[dev]['maxRssBytes'] / 2**20:.0f} MiB"})
        ratio(f"whole fusion run ({name}, activations + fusion): cpu s / gpu s", total["cpu"], total["cuda"])
        if "cuda-one-by-one" in fusion:
            ratio(f"fusion stage on the GPU ({name}): maps one by one s / solved ahead, batched s",
                  fusion["cuda-one-by-one"]["seconds"].get("fusion", 0), fusion["cuda"]["seconds"].get("fusion", 0))

    # The BERT-base-sized pair through `otfuse run` (report.json of each device).
    bert = {}
    for dev in ("cuda", "cpu"):
        path = os.path.join(out, f"bert-{dev}.json")
        try:
            with open(path) as f:
                bert[dev] = json.load(f)["seconds"]
        except (OSError, ValueError, KeyError):
            pass
    stages = ("load", "activations", "fusion", "evaluate", "total")
    for dev, sec in bert.items():
        rows.append({"group": "fusion", "case": "BERT-base-sized pair (otfuse run)", "device": dev, "impl": "ours",
                     "value": sec.get("total", 0), "unit": "s",
                     "note": ", ".join(f"{k} {sec[k]:.2f} s" for k in stages[:-1] if k in sec)})
    if "cuda" in bert and "cpu" in bert:
        for k in ("activations", "fusion", "total"):
            ratio(f"BERT-base-sized pair, {k}: cpu s / gpu s", bert["cpu"].get(k, 0), bert["cuda"].get(k, 0))

    for case in ("h768 L12 mlm B32 T128", "h96 L2 mlm B256 T64"):
        for fill in ("full", "padded"):
            forward_ratios("BERT", "bert", f"{case} {fill}", "seq/s")

    lines = []
    gpu = native.get("gpu")
    lines.append("GPU: " + (gpu.get("describe", gpu.get("name", "?")) if isinstance(gpu, dict) else f"none ({native.get('reason', '?')})"))
    lines.append("CPU: " + str(native.get("cpu", "?")))
    lines.append("torch: " + (f"{torch.get('torch')} on {torch.get('gpu')}" if torch.get("available") else f"not used ({torch.get('reason')})"))
    if tests.get("ran"):
        t = f"ctest: {tests.get('failed', '?')} of {tests.get('total', '?')} failed; CUDA-vs-CPU tests {tests['native_cuda']}"
        if tests.get("skip_reason"):
            t += f" ({tests['skip_reason']})"
        lines.append(t)
        if tests.get("cuda_tests"):
            counts = {}
            for t in tests["cuda_tests"]:
                counts[t["status"]] = counts.get(t["status"], 0) + 1
            lines.append("  CUDA tests: " + ", ".join(f"{n} {st}" for st, n in sorted(counts.items())))
        for name in tests.get("cuda_cases_failed", []):
            lines.append(f"  failed: {name}")
        for line in tests.get("over_bound", [])[:20]:
            lines.append(f"    {line}")
    else:
        lines.append("ctest: did not run")
    mocha = os.path.join(out, "mocha-gpu.txt")
    if os.path.exists(mocha):
        counts = [l.strip() for l in open(mocha) if re.match(r"\s*\d+ (passing|failing|pending)", l)]
        lines.append("npm test on the GPU: " + (", ".join(counts) if counts else "no result (see mocha-gpu.txt)"))
    steps = os.path.join(out, "steps.txt")
    if os.path.exists(steps):
        lines.append("steps: " + " ".join(l.strip() for l in open(steps) if l.strip()))
    lines.append("")
    if rows:
        lines.append(f"{'group':<9} {'case':<34} {'dev':<5} {'impl':<16} {'value':>12} {'unit':<9} note")
        for r in rows:
            v = r["value"]
            vs = f"{v:12.4g}" if isinstance(v, (int, float)) else f"{'-':>12}"
            lines.append(f"{r['group']:<9} {r['case']:<34} {r['device']:<5} {r['impl']:<16} {vs} {r['unit']:<9} {r.get('note', '')}")
    else:
        lines.append("(no benchmark rows: nothing ran on a GPU)")
    if comparisons:
        lines.append("")
        lines.append("comparisons (ratio > 1: the first named is faster)")
        for c in comparisons:
            extra = f"  target {c['target']}x: {'met' if c['meets_target'] else 'NOT met'}" if "target" in c else ""
            lines.append(f"  {c['comparison']:<62} {c['ratio']:>9.3f}{extra}")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"gpu": gpu, "cpu": native.get("cpu"), "torch": {k: v for k, v in torch.items() if k != "rows"},
                   "tests": tests, "rows": rows, "comparisons": comparisons}, f, indent=1)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
