"""docs/int8_variants.py: the quantisation variants docs/results.md compares, on the hand-computed cases of
test_export (a small input next to a large one; a small weight on a large input)."""

import importlib.util
import os

import numpy as np
import torch

import export

spec = importlib.util.spec_from_file_location(
    "int8_variants", os.path.join(os.path.dirname(__file__), "..", "docs", "int8_variants.py")
)
variants = importlib.util.module_from_spec(spec)
spec.loader.exec_module(variants)

EPS = np.finfo(np.float32).eps


def output(variant, layers, observation):
    return variants.forward(variant, variants.quantise(variant, layers), torch.tensor([observation])).item()


def test_the_first_scheme_loses_a_small_input_next_to_a_large_one():
    # a [1] policy passing on the second input (0.5) beside 1000: int8 steps of 1000 / 127 round it to 0;
    # int16 steps of 1000 / 32767 keep 16 of them (as test_export's export case)
    layers = [(torch.tensor([[0.0, 1.0]]), torch.zeros(1)), (torch.tensor([[1.0]]), torch.zeros(1))]
    assert output("obs8", layers, [1000.0, 0.5]) == 0.0
    assert abs(output("obs16", layers, [1000.0, 0.5]) - 16 * 1000 / 32767) <= 8 * EPS


def test_one_scale_per_row_loses_a_small_weight_on_a_large_input():
    # the row [1, 0.001] on [0.5, 1000]: 0.5 + 1 = 1.5 in float32. One scale per row (1 / 127) rounds 0.001 to 0,
    # leaving 0.5; the input scales keep it (export's weights, float32 activations: 1.5 to float32 rounding)
    layers = [(torch.tensor([[1.0, 0.001]]), torch.zeros(1)), (torch.tensor([[1.0]]), torch.zeros(1))]
    assert abs(output("weights", layers, [0.5, 1000.0]) - 0.5) <= 8 * EPS
    assert abs(output("weights-first", layers, [0.5, 1000.0]) - 0.5) <= 8 * EPS
    assert abs(output("scaled-weights", layers, [0.5, 1000.0]) - 1.5) <= 8 * EPS * 1.5
    assert abs(output("weights-rest", layers, [0.5, 1000.0]) - 1.5) <= 8 * EPS * 1.5  # the first layer float32
    # and the export's own arithmetic agrees with the scaled weights
    exported = export.int8_forward(export.quantise_policy(layers), torch.tensor([[0.5, 1000.0]])).item()
    assert abs(exported - (16384 + 32767) / 32767) <= 8 * EPS * 1.5
