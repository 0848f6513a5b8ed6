"""Dumps POT 0.8.2's answers on small seeded problems to test/fixtures/ot/pot_reference.json,
so that the test suite can check the native solvers against real POT without Python.

Run with the Python that has POT (Debian's python3-pot), from the repository root:

    /usr/bin/python3 bench/ot/pot_reference.py

Each case stores its inputs (a, b, the cost matrix) and POT's outputs:
  sinkhorn:     ot.sinkhorn(a, b, M, reg, numItermax=..., stopThr=..., log=True)
                -> plan, niter, the last measured error, <plan, M>
  sinkhorn_log: ot.sinkhorn(..., method='sinkhorn_log') -> plan, niter
  emd:          ot.emd(a, b, M, log=True) -> plan, cost, u, v (centred duals)
"""
import json
import os
import sys
import warnings

import numpy as np
import ot

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'ot', 'pot_reference.json')


def histogram(rng, k, zeros=0):
    h = rng.uniform(0.1, 1.0, k)
    if zeros:
        h[rng.choice(k, zeros, replace=False)] = 0.0
    return h / h.sum()


def cost(rng, n, m, dim=3):
    """Euclidean distances between random points, max-normalised: costs in [0, 1]."""
    x, y = rng.standard_normal((n, dim)), rng.standard_normal((m, dim))
    c = ot.dist(x, y, metric='euclidean')
    return c / c.max()


def as_list(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def sinkhorn_case(name, seed, n, m, reg, uniform=True, zeros_a=0, num_itermax=1000, stop_thr=1e-9):
    rng = np.random.default_rng(seed)
    a = np.full(n, 1.0 / n) if uniform else histogram(rng, n, zeros_a)
    b = np.full(m, 1.0 / m) if uniform else histogram(rng, m)
    c = cost(rng, n, m)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "did not converge" is part of some cases
        plan, log = ot.sinkhorn(a, b, c, reg, numItermax=num_itermax, stopThr=stop_thr, log=True)
        plan_log, log_log = ot.sinkhorn(a, b, c, reg, method='sinkhorn_log', numItermax=num_itermax,
                                        stopThr=stop_thr, log=True)
    return {
        'name': name, 'n': n, 'm': m, 'reg': reg, 'numItermax': num_itermax, 'stopThr': stop_thr,
        'a': as_list(a), 'b': as_list(b), 'cost': as_list(c),
        'sinkhorn': {'plan': as_list(plan), 'niter': int(log['niter']), 'lastErr': float(log['err'][-1]),
                     'transportCost': float((plan * c).sum())},
        'sinkhorn_log': {'plan': as_list(plan_log), 'niter': int(log_log['niter'])},
    }


def emd_case(name, seed, n, m, uniform=True):
    rng = np.random.default_rng(seed)
    a = np.full(n, 1.0 / n) if uniform else histogram(rng, n)
    b = np.full(m, 1.0 / m) if uniform else histogram(rng, m)
    c = cost(rng, n, m)
    plan, log = ot.emd(a, b, c, log=True)
    return {
        'name': name, 'n': n, 'm': m, 'a': as_list(a), 'b': as_list(b), 'cost': as_list(c),
        'emd': {'plan': as_list(plan), 'cost': float(log['cost']), 'u': as_list(log['u']), 'v': as_list(log['v'])},
    }


def main():
    data = {
        'generator': 'bench/ot/pot_reference.py',
        'pot': ot.__version__,
        'numpy': np.__version__,
        'sinkhorn': [
            sinkhorn_case('square uniform', 1, 12, 12, 0.1),
            sinkhorn_case('rectangular wide', 2, 8, 15, 0.05),
            sinkhorn_case('rectangular tall, non-uniform', 3, 15, 9, 0.05, uniform=False),
            sinkhorn_case('small reg, many iterations', 4, 10, 10, 0.02, uniform=False),
            sinkhorn_case('stops at numItermax', 5, 9, 11, 0.01, num_itermax=50),
            sinkhorn_case('zero-mass rows', 6, 10, 8, 0.08, uniform=False, zeros_a=3),
        ],
        'emd': [
            emd_case('square uniform (assignment)', 11, 9, 9),
            emd_case('rectangular uniform', 12, 6, 14),
            emd_case('rectangular non-uniform', 13, 11, 7, uniform=False),
        ],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {os.path.relpath(OUT)} (POT {ot.__version__})', file=sys.stderr)


if __name__ == '__main__':
    main()
