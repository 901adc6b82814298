"""Store scikit-dimension's TwoNN and MLE estimates on fixed data sets as test references.

Run with scikit-dimension installed (a separate venv keeps it out of the project's one):

    python -m venv benchmarks/.venv-skdim
    benchmarks/.venv-skdim/bin/pip install scikit-dimension==0.5.0
    benchmarks/.venv-skdim/bin/python tests/data/make_dimension_reference.py

Writes tests/data/dimension_reference.npz: for each data set ``X<i>`` (uniform samples of a
d-dimensional cube and sphere, randomly rotated into D dimensions) the estimates
``twonn<i>`` (linear fit, discard_fraction=0.1), ``twonn_mle<i>`` (method="mle"),
``mle<i>`` (MLE(), n_neighbors=20, comb="mle"), ``mle_unbiased<i>`` (unbiased=True),
``mle_pw<i>`` (per-point estimates) and ``mle_k10_<i>`` (n_neighbors=10).
"""

from pathlib import Path

import numpy as np
import skdim


def rotate(x, dim, rng):
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    padded = np.zeros((len(x), dim))
    padded[:, : x.shape[1]] = x
    return padded @ q.T


def main():
    rng = np.random.default_rng(20240601)
    cube = rotate(rng.random((800, 4)), 16, rng)
    sphere = rng.standard_normal((700, 7))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)  # S^6: intrinsic dimension 6
    sphere = rotate(sphere, 30, rng)
    out = {}
    for i, x in enumerate([cube, sphere]):
        out[f"X{i}"] = x
        out[f"twonn{i}"] = skdim.id.TwoNN(discard_fraction=0.1).fit(x).dimension_
        out[f"twonn_mle{i}"] = skdim.id.TwoNN(discard_fraction=0.1, method="mle").fit(x).dimension_
        mle = skdim.id.MLE().fit(x)
        out[f"mle{i}"] = mle.dimension_
        out[f"mle_pw{i}"] = mle.dimension_pw_
        out[f"mle_unbiased{i}"] = skdim.id.MLE(unbiased=True).fit(x).dimension_
        out[f"mle_k10_{i}"] = skdim.id.MLE().fit(x, n_neighbors=10).dimension_
        print(i, x.shape, {k: v for k, v in out.items() if k.endswith(str(i)) and np.ndim(v) == 0})
    out["skdim_version"] = np.array(skdim.__version__)
    np.savez_compressed(Path(__file__).with_name("dimension_reference.npz"), **out)


if __name__ == "__main__":
    main()
