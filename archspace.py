"""The architecture space of graph hyper policies (Sec. III-B) and the tools to pick from it.

Pure Python + numpy. An architecture is a tuple of hidden-layer widths, e.g. (16, 8, 32, 8):
the deployed policy is the MLP in_dim -> 16 -> 8 -> 32 -> 8 -> out_dim with ReLU between layers.
"""

import itertools

WIDTHS = (4, 8, 16, 32, 64, 128, 256, 512)
"""The set L of layer widths (Sec. III-B)."""
MAX_DEPTH = 4
"""Policies have 1..MAX_DEPTH hidden layers (Sec. III-B)."""

ARCH_FORMAT = 'comma- or dash-separated positive widths, e.g. "16,8,32,8", "[16, 8, 32, 8]" or "16-8-32-8"'


def all_archs(widths=WIDTHS, max_depth=MAX_DEPTH):
    """Every MLP with 1..max_depth hidden layers drawn from `widths`, ordered by depth, then
    lexicographically. 4680 architectures by default (Eq. 2)."""
    widths = sorted(widths)
    archs = []
    for depth in range(1, max_depth + 1):
        archs.extend(itertools.product(widths, repeat=depth))
    return archs


def parse_arch(text):
    """'16,8,32,8', '[16, 8, 32, 8]' or '16-8-32-8' -> (16, 8, 32, 8)."""
    if isinstance(text, (tuple, list)):
        text = ",".join(str(width) for width in text)
    body = str(text).strip()
    if body[:1] in "[(" and body[-1:] in "])":
        body = body[1:-1]
    separator = "," if "," in body else "-" if "-" in body else None
    parts = [part.strip() for part in body.split(separator)] if body.strip() else []
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"bad architecture {text!r}: expected {ARCH_FORMAT}")
    return tuple(int(part) for part in parts)


def layer_shapes(arch, in_dim, out_dim):
    """(fan_out, fan_in) of every linear layer of the MLP in_dim -> arch -> out_dim."""
    sizes = [in_dim, *arch, out_dim]
    return [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]


def num_params(arch, in_dim, out_dim):
    """Weights + biases of the deployed MLP. The paper counts the action-mean head only, so
    pass out_dim = action dim: Hopper (11 -> 3) [256, 256] has 69635."""
    return sum(fan_out * fan_in + fan_out for fan_out, fan_in in layer_shapes(arch, in_dim, out_dim))


def flash_bytes(arch, in_dim, out_dim, int8=False):
    """Bytes of the deployed MLP's constants (Sec. I: a microcontroller's memory): float32 weights and
    biases, 4 per parameter; or int8 weights, 1 each, with a float32 scale and a float32 bias per
    output row and a float32 scale per input. Hopper (11 -> 3) [4, 4]: 4 * 83 = 332 bytes; int8
    72 + 8 * 11 + 4 * 11 = 204."""
    if not int8:
        return 4 * num_params(arch, in_dim, out_dim)
    return 4 * in_dim + sum(fan_out * fan_in + 8 * fan_out for fan_out, fan_in in layer_shapes(arch, in_dim, out_dim))


def policy_bytes(arch, dims, int8=False):
    """(flash, RAM) bytes of an exported C policy: flash_bytes plus its other constants, and ram_bytes; dims is
    (in_dim, act_dim, bytes of the constants beside the weights: action scale and bias, a Fetch input normaliser)."""
    in_dim, act_dim, constants = dims
    return flash_bytes(arch, in_dim, act_dim, int8) + constants, ram_bytes(arch, in_dim, act_dim, int8)


def ram_bytes(arch, in_dim, out_dim, int8=False):
    """Bytes of the exported C policy's activation buffers: a float32 buffer for the input and every
    second layer's output, another for the other outputs, each as wide as the widest it holds; int8
    adds an int16 buffer as wide as the widest layer input (the quantised input: the observation in
    int16, hidden activations in int8)."""
    widths = [in_dim, *arch, out_dim]
    return 4 * (max(widths[0::2]) + max(widths[1::2])) + (2 * max(widths[:-1]) if int8 else 0)


def d_lm(arch, in_dim, out_dim):
    """Lossless memory dimension of an MLP, Algorithm 1 (with its line 5 for regression)."""
    arch = tuple(arch)
    capacity = (in_dim + 2) * arch[0]  # line 1
    for j in range(2, len(arch) + 1):  # lines 2-4
        capacity += min(arch[:j])
    return capacity + min(min(arch), out_dim)  # line 5


# Node roles of an architecture graph.
INPUT, WEIGHT, BIAS, OUTPUT = 0, 1, 2, 3


def arch_graph(arch, out_dim):
    """The node list of Eq. 3: [0, l_1, l_1, ..., l_k, l_k, out_dim].

    The input node (0), then a weight node and a bias node per hidden layer, then ONE output node
    with the generated network's output size (2a for SAC: action mean and log_std). As in Eq. 3 the
    output layer has a single node: the GHN decodes both the output weight matrix and the output
    bias from it. graph_roles(arch) gives the role of each node.
    """
    return [0] + [width for width in arch for _ in (WEIGHT, BIAS)] + [out_dim]


def graph_roles(arch):
    """Role of each node of arch_graph(arch, ...): INPUT, then WEIGHT, BIAS per layer, then OUTPUT."""
    return [INPUT] + [WEIGHT, BIAS] * len(arch) + [OUTPUT]


def sample_archs(rng, n, archs, mode="uniform"):
    """n architectures from `archs` with a numpy Generator (a space of one architecture, a baseline's, draws
    no random numbers: [archs[0]] * n).

    "uniform": uniform over the whole space, as in the paper (Sec. III-C); distinct within one
    call while n <= len(archs). "depth": a depth uniformly first, then an arch of that depth
    (4-layer nets are 87.5% of the default space, so uniform sampling rarely shows shallow ones).
    """
    if mode not in ("uniform", "depth"):
        raise ValueError(f"bad arch sampling mode {mode!r}: allowed 'uniform' or 'depth'")
    if len(archs) == 1:
        return [tuple(archs[0])] * n
    if mode == "uniform":
        idx = rng.choice(len(archs), size=n, replace=n > len(archs))
        return [tuple(archs[i]) for i in idx]
    if mode == "depth":
        by_depth = {}
        for arch in archs:
            by_depth.setdefault(len(arch), []).append(tuple(arch))
        depths = sorted(by_depth)
        picked = []
        for depth in rng.choice(depths, size=n):
            group = by_depth[int(depth)]
            picked.append(group[rng.integers(len(group))])
        return picked


def arch_name(arch):
    """(16, 8, 32, 8) -> "16-8-32-8", as in file names and log tags."""
    return "-".join(str(width) for width in arch)


def space_order(arch):
    """Sort key of the order of all_archs(): fewer hidden layers first, then widths
    lexicographically. Every tie between architectures is broken by it, so a pick never depends
    on the order in which results were listed."""
    return len(arch), tuple(arch)


def pick(rows, rule):
    """Sec. III-D's two picks from dicts with "arch", "params" and "d_lm": the largest D_LM (Eq. 5,
    rule="d_lm") or the most parameters (rule="size"). Ties go to fewer parameters, then to the
    earlier architecture in space_order."""
    if rule == "d_lm":
        return min(rows, key=lambda r: (-r["d_lm"], r["params"], space_order(r["arch"])))
    if rule == "size":
        return min(rows, key=lambda r: (-r["params"], space_order(r["arch"])))
    raise ValueError(f"bad selection rule {rule!r}: allowed 'd_lm' or 'size'")


def select_under_budget(archs, budget, in_dim, out_dim, rule="d_lm", cost=num_params, unit="parameters"):
    """Eq. 5: among archs with cost(arch, in_dim, out_dim) <= budget (parameters, or bytes with
    another cost), the one pick(rule) chooses."""
    if rule not in ("d_lm", "size"):
        raise ValueError(f"bad selection rule {rule!r}: allowed 'd_lm' or 'size'")
    rows = [
        {"arch": tuple(arch), "params": num_params(arch, in_dim, out_dim), "d_lm": d_lm(arch, in_dim, out_dim)}
        for arch in archs
    ]
    costs = [cost(row["arch"], in_dim, out_dim) for row in rows]
    fitting = [row for row, row_cost in zip(rows, costs) if row_cost <= budget]
    if not fitting:
        raise ValueError(f"no architecture fits a budget of {budget} {unit}: the smallest has {min(costs)}")
    return pick(fitting, rule)["arch"]
