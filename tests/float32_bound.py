"""Rounding-error bounds for float32 MLP forwards, so that tests compare two float32 computations
with a tolerance that follows from the arithmetic rather than from one CPU's results."""

import numpy as np

UNIT_ROUNDOFF = 2.0**-24  # float32: every +, * is exact to a relative 2^-24


def gamma(k):
    """Higham's gamma_k = k u / (1 - k u): the relative error bound of a k-term dot product."""
    return k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)


def mlp_float32_error_bound(layers, inputs, input_error=0.0):
    """Exact outputs of the MLP `layers` = [(W, b), ...] (ReLU between layers, linear output) on
    `inputs`, and a bound on how far ANY float32 evaluation of it can be from them, per output.

    Whatever the summation order (a BLAS kernel, a C loop, with or without FMA), fl(W x + b) lies
    within gamma_(n+1) * (|W| |x| + |b|) of W x + b for fan-in n (Higham, Accuracy and Stability of
    Numerical Algorithms, Sec. 3.1); an error e already in x adds |W| e; ReLU does not grow errors.
    Two float32 evaluations therefore differ by at most twice the bound. `input_error` bounds how far
    the inputs an evaluation starts from may already be from `inputs`. Arrays in float64, whose own
    rounding is 2^29 times smaller and is left out."""
    x = np.asarray(inputs, np.float64)
    error = np.broadcast_to(np.asarray(input_error, np.float64), x.shape).copy()
    for i, (weight, bias) in enumerate(layers):
        weight, bias = np.asarray(weight, np.float64), np.asarray(bias, np.float64)
        abs_weight = np.abs(weight)
        error = error @ abs_weight.T + gamma(weight.shape[1] + 1) * ((np.abs(x) + error) @ abs_weight.T + np.abs(bias))
        x = x @ weight.T + bias
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x, error
