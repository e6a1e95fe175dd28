"""How many of the GHN's weight codes are alive: the decoder turns the weight trunk's outputs (the codes)
into the generated weights. With the plain ReLU that ended the trunk before --ghn-code-slope, a code unit
that is <= 0 on every node gives nothing to any weight and gets no gradient, and if every unit dies all
generated weights are 0 (each arch then acts as the same constant policy, its output biases); the leaky
ReLU of today's GHN lets such a unit come back. Prints, per GHN checkpoint, the share of code
pre-activations > 0 and of code units > 0 on some node of six probe archs.

    python docs/ghn_codes_alive.py runs/RUN/ghn_10000.pt runs/RUN/ghn_100000.pt
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ghn import GHN  # noqa: E402

PROBE_ARCHS = [(4,), (16, 16), (64, 64), (256, 256), (8, 4, 4, 4), (512, 512, 512, 512)]

if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python docs/ghn_codes_alive.py GHN_CHECKPOINT...")
    for path in sys.argv[1:]:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        if not isinstance(checkpoint, dict) or checkpoint.get("ghn") is None:
            raise SystemExit(f"{path!r}: not a checkpoint with a GHN")
        ghn = GHN.from_checkpoint(checkpoint["ghn"])
        with torch.no_grad():
            pre_activations = ghn.weight_trunk[:-1](ghn.embed(PROBE_ARCHS))  # the trunk without its last activation
        entries = (pre_activations > 0).float().mean().item()
        units = (pre_activations > 0).flatten(0, 1).any(0).float().mean().item()
        name = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
        print(
            f"{name}: {entries:.3f} of code entries > 0, {units:.3f} of code units alive on some node, "
            f"largest pre-activation {pre_activations.max().item():.3g}"
        )
