"""`evaluate.py run --int8` with another quantisation than export --int8's: the variants docs/results.md
compares to find what the int8 policy of Humanoid needed (its int8 section).

    python docs/int8_variants.py VARIANT run --checkpoint CKPT --archs "32,4,16,64" --episodes 20 --seed 1000 --int8 ...

VARIANT (the policy's weights W, the first layer's W0, its input x; "quantised" as export.quantise_rows):
    obs8          the first scheme: every layer input, the observation too, int8; one weight scale per row
    obs16         the observation int16, hidden outputs int8; one weight scale per row (no input scales)
    sqrt-scales   as export --int8 but the first layer's input scales are the square root of its column max
    weights       int8 weights (one scale per row), float32 activations
    scaled-weights int8 weights, the first layer's with export's input scales, float32 activations
    activations   float32 weights, activations quantised as export --int8 does
    weights-first only the first layer's weights int8 (one scale per row), float32 activations
    weights-rest  only the other layers' weights int8, float32 activations

Everything else (episodes, seeds, results.csv, report) is evaluate.py run's. Not part of the tested export.
"""

import os
import sys

import torch
import tyro

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import evaluate  # noqa: E402
import export  # noqa: E402

VARIANTS = ("obs8", "obs16", "sqrt-scales", "weights", "scaled-weights", "activations", "weights-first", "weights-rest")
EXPORT_QUANTISE = export.quantise_policy


def dequantised(weight):
    q, scale = export.quantise_rows(weight)
    return q * scale[:, None]


def quantise(variant, params):
    """(input scales, [(weight as int8 steps or float32, row scale, bias), ...]) for forward()."""
    weights = [weight.float() for weight, _ in params]
    biases = [bias.float() for _, bias in params]
    ones = torch.ones(weights[0].shape[1])
    if variant in ("obs8", "obs16"):
        return ones, [(*export.quantise_rows(w), b) for w, b in zip(weights, biases)]
    if variant == "sqrt-scales":
        column_scale = EXPORT_QUANTISE(params)[0].sqrt()
        weights[0] = weights[0] / column_scale
        return column_scale, [(*export.quantise_rows(w), b) for w, b in zip(weights, biases)]
    if variant == "scaled-weights":  # export's int8 weights, dequantised
        column_scale, layers = EXPORT_QUANTISE(params)
        return column_scale, [(q * scale[:, None], torch.ones_like(scale), b) for q, scale, b in layers]
    if variant in ("weights", "weights-first"):
        weights[0] = dequantised(weights[0])
    if variant in ("weights", "weights-rest"):
        weights[1:] = [dequantised(w) for w in weights[1:]]
    return ones, [(w, torch.ones(w.shape[0]), b) for w, b in zip(weights, biases)]


def forward(variant, policy, inputs):
    """Layer by layer as export.int8_forward, the inputs quantised only where the variant says."""
    column_scale, layers = policy
    x = inputs * column_scale
    for k, (weight, scale, bias) in enumerate(layers):
        if variant in ("obs8", "obs16", "sqrt-scales", "activations"):
            levels = export.INPUT_LEVELS if k == 0 and variant != "obs8" else 127
            xq, x_scale = export.quantise_rows(x, levels)
            x = (xq.double() @ weight.double().T).float() * (scale * x_scale[:, None]) + bias
        else:
            x = (x @ weight.T) * scale + bias
        x = torch.relu(x) if k < len(layers) - 1 else x
    return x


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"int8_variants.py: the first argument is one of {', '.join(VARIANTS)}")
    variant = sys.argv.pop(1)
    evaluate.quantise_policy = lambda params: quantise(variant, params)
    evaluate.int8_forward = lambda policy, inputs: forward(variant, policy, inputs)
    evaluate.command_run(tyro.extras.subcommand_cli_from_dict(evaluate.COMMANDS))
