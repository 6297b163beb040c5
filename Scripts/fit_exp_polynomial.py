#!/usr/bin/env python3
"""Fits the degree-6 polynomial the vector exp uses on [-ln2/2, ln2/2]
(Sources/RecurrentKernelSource/Kernels.swift) and reports its error.

Least squares on Chebyshev nodes, reweighted toward the largest relative errors (close to the
minimax fit); then the float32-rounded coefficients are evaluated by Horner in float32, as the
kernels do (they use Estrin's order, which rounds differently but no worse). Run by hand:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/python Scripts/fit_exp_polynomial.py
"""
import numpy as np

HALF_LN2 = np.log(2) / 2


def fit(degree):
    x = np.cos(np.pi * (np.arange(2000) + 0.5) / 2000) * HALF_LN2
    basis = np.vander(x, degree + 1, increasing=True)
    weights = 1 / np.exp(x)
    coefficients, *_ = np.linalg.lstsq(basis * weights[:, None], np.exp(x) * weights, rcond=None)
    for _ in range(50):
        error = (basis @ coefficients - np.exp(x)) / np.exp(x)
        weights = weights * (1 + 50 * np.abs(error) / np.abs(error).max())
        coefficients, *_ = np.linalg.lstsq(basis * weights[:, None], np.exp(x) * weights, rcond=None)
    return coefficients


def main():
    for degree in (5, 6):
        coefficients = fit(degree)
        grid = np.linspace(-HALF_LN2, HALF_LN2, 200_001)
        exact_error = np.abs((np.polyval(coefficients[::-1], grid) - np.exp(grid)) / np.exp(grid)).max()
        single = coefficients.astype(np.float32)
        r = grid.astype(np.float32)
        p = np.full_like(r, single[-1])
        for k in range(degree - 1, -1, -1):
            p = (p * r + single[k]).astype(np.float32)
        float32_error = np.abs((p - np.exp(grid)) / np.exp(grid)).max()
        print(f"degree {degree}: coefficients {[float(c) for c in single]}")
        print(f"  max relative error: {exact_error:.2e} exact coefficients, {float32_error:.2e} in float32")


if __name__ == "__main__":
    main()
