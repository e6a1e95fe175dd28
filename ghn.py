"""The compact graph hyper network (GHN) of a graph hyper policy (Sec. II-A, Fig. 2).

Given a list of MLP architectures, one batched call `ghn(archs)` returns differentiable weights
and biases for every one of them. Pipeline per architecture graph (archspace.arch_graph, Eq. 3):

    node features -> linear encoder -> gated GNN (one forward + one backward sweep over the chain,
    message MLP + GRU cell) -> LayerNorm -> per-node decoders:
      weight nodes and the output node -> a max_width x max_width matrix cropped to (fan_out, fan_in)
      bias nodes and the output node   -> a max_width vector cropped to fan_out

Only the cropped part of each matrix is decoded (CroppedDecode below), so cost grows with the layer,
not with 512 x 512. That per-arch path, `ghn(archs)`, is the reference; training calls
`ghn.policies(ghn.arch_ids(archs))`, which picks the path (in one place, `GHN.policies`): the static-shape
`ghn.batched(arch_ids)` (padded layer slots, batched matmuls, same values) for the lowrank decoder, for the full one on
a GPU and under torch.compile; else the per-arch path. CroppedDecode stays beside them because without it the paper's
decoder on a CPU costs 29% more per GHN step (decoding 512 x 512, then cropping) or 58% (the padded static path):
docs/benchmarks.md, "One GHN step". The gated GNN likewise has a plain form beside the fast one: `_embed_plain` applies
nn.GRUCell node by node, `_embed` computes the same with its sequential part shortened (tests/test_ghn.py compares them).
"""

import math
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

import archspace

DECODERS = ("full", "lowrank")


class CroppedDecode(torch.autograd.Function):
    """Rows of the paper's 128 -> max_width^2 weight decoder, evaluated only inside each crop.

    For node j with code z_j (a row of `codes`) and crop (fan_out, fan_in), returns
    W_j = (weight @ z_j + bias).view(M, M)[:fan_out, :fan_in], exactly what decoding the full
    matrix and cropping gives. Nodes with the same crop shape are decoded by one batched matmul.
    Backward writes each parameter's gradient once, instead of autograd allocating a full-size
    zero gradient for every slice (notes: ~2 s per meta-batch that way).
    """

    @staticmethod
    def forward(ctx, codes, weight, bias, crops, width):
        code_dim = codes.shape[1]
        weight3 = weight.view(width, width, code_dim)
        bias2 = bias.view(width, width)
        groups = {}
        for row, crop in enumerate(crops):
            groups.setdefault(crop, []).append(row)
        outputs = [None] * len(crops)
        for (fan_out, fan_in), rows in groups.items():
            group_codes = codes[rows]  # (m, C)
            # (fan_out, fan_in, C) @ (C, m), batched over fan_out rows of the crop
            block = torch.bmm(weight3[:fan_out, :fan_in], group_codes.t().expand(fan_out, code_dim, len(rows)))
            block = block.permute(2, 0, 1) + bias2[:fan_out, :fan_in]
            for k, row in enumerate(rows):
                outputs[row] = block[k].clone() if len(rows) > 1 else block[k]
        ctx.save_for_backward(codes, weight)
        ctx.groups = groups
        ctx.width = width
        ctx.set_materialize_grads(False)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        codes, weight = ctx.saved_tensors
        width, code_dim = ctx.width, codes.shape[1]
        weight3 = weight.view(width, width, code_dim)
        need_codes, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_codes = torch.zeros_like(codes) if need_codes else None
        grad_weight3 = torch.zeros_like(weight3) if need_weight else None
        grad_bias2 = weight.new_zeros(width, width) if need_bias else None
        for (fan_out, fan_in), rows in ctx.groups.items():
            used = [(row, grads[row]) for row in rows if grads[row] is not None]
            if not used:
                continue
            group_grad = torch.stack([grad for _, grad in used])  # (m, fan_out, fan_in)
            group_codes = codes[[row for row, _ in used]]  # (m, C)
            if need_codes:
                # sum over the crop of grad * weight -> (m, C)
                per_row = torch.bmm(group_grad.transpose(0, 1), weight3[:fan_out, :fan_in])
                grad_codes[[row for row, _ in used]] = per_row.sum(0)
            if need_weight:
                grad_weight3[:fan_out, :fan_in].baddbmm_(
                    group_grad.permute(1, 2, 0), group_codes.expand(fan_out, *group_codes.shape)
                )
            if need_bias:
                grad_bias2[:fan_out, :fan_in] += group_grad.sum(0)
        grad_weight = grad_weight3.view(width * width, code_dim) if need_weight else None
        grad_bias = grad_bias2.view(-1) if need_bias else None
        return grad_codes, grad_weight, grad_bias, None, None


def mlp_forward(params, x):
    """Run one generated policy: params = [(W_1, b_1), ..., (W_out, b_out)]; ReLU hidden layers,
    linear output."""
    for weight, bias in params[:-1]:
        x = F.relu(F.linear(x, weight, bias))
    weight, bias = params[-1]
    return F.linear(x, weight, bias)


@torch.no_grad()
def params_to_mlp(params, out_rows=None):
    """A plain nn.Sequential (Linear, ReLU, ..., Linear) carrying params = [(W_1, b_1), ...], detached.
    out_rows=k keeps only the first k outputs (e.g. the action-mean head)."""
    layers = []
    for i, (weight, bias) in enumerate(params):
        if i == len(params) - 1 and out_rows is not None:
            if not 1 <= out_rows <= weight.shape[0]:
                raise ValueError(f"bad out_rows {out_rows}: allowed 1..{weight.shape[0]}")
            weight, bias = weight[:out_rows], bias[:out_rows]
        linear = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class FixedMLP(nn.Module):
    """One ordinary MLP in_dim -> arch -> out_dim behind the GHN's interface (mlp(archs), arch_ids, policies,
    param_groups): the paper's baseline actor (--baseline-arch), which the training loops treat like a GHN."""

    def __init__(self, arch, in_dim, out_dim):
        super().__init__()
        self.arch, sizes = tuple(arch), [in_dim, *arch, out_dim]
        self.layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))

    def params(self):
        """[(W_1, b_1), ..., (W_out, b_out)], as the GHN generates them (mlp_forward runs them)."""
        return [(layer.weight, layer.bias) for layer in self.layers]

    def forward(self, archs):
        if any(tuple(arch) != self.arch for arch in archs):
            raise ValueError(f"this fixed MLP is {list(self.arch)}: it has no weights for {[list(a) for a in archs]}")
        return [self.params() for _ in archs]

    def arch_ids(self, archs):
        return torch.zeros(len(archs), dtype=torch.long, device=self.layers[0].weight.device)

    def policies(self, arch_ids):
        """Every chunk of the inputs (B, n, in_dim) through the one MLP: (B, n, out_dim)."""
        params = self.params()
        return lambda inputs: mlp_forward(params, inputs.flatten(0, 1)).view(*inputs.shape[:2], -1)

    def param_groups(self, weight_decay):
        return [{"params": list(self.parameters()), "weight_decay": weight_decay}]


class GHN(nn.Module):
    """Graph hyper network that generates the parameters of MLPs in_dim -> arch -> out_dim.

    Args:
        in_dim: input size of the generated MLPs (observation size).
        out_dim: output size of the generated MLPs (2 x action dim for SAC: mean and log_std).
        hidden: size of node embeddings (the authors use 16).
        max_width: largest layer width (and in_dim, out_dim) the GHN can generate; each weight node
            decodes a max_width x max_width matrix.
        decoder: "full" is the paper's decoder (MLP to 128, then a linear map 128 -> max_width^2,
            ~34M parameters at 512); "lowrank" decodes a row factor and a column factor of rank
            `rank` and multiplies them (W = U V^T / sqrt(rank)), ~2M parameters at 512.
        rank: rank of the "lowrank" decoder.
        code_slope: negative slope of the leaky ReLU that ends the weight trunk (the codes the
            heads decode). With 0, a plain ReLU, the code units can all die: on HalfCheetah every
            unit was dead by 90k env steps, every generated matrix ~0 and every arch one constant
            policy (docs/results.md). Checkpoints from before this argument used 0.
        max_depth: most hidden layers an architecture may have.
        output_scale: extra factor on the generated output layer, so that fresh policies output
            small values (the usual small final-layer init of RL actors). With 1.0, fresh policies'
            outputs had std 2-6, DDPG's tanh actions saturated at +-1 and GHP-DDPG+HER never solved
            FetchReach; with 0.1 random archs reached 0.88 success after one epoch.
        code_norm: divide each node's weight code by its root mean square before the heads, so that
            every decoded entry starts with unit variance whatever the seed. Without it the codes' rms
            (0.7-1.4 by seed, not the 0.71 the scale assumed) enters each generated layer's scale, once
            in the full decoder and squared in the lowrank one: with seed 1 the lowrank GHN's layers
            started ~4x too large and its policies' outputs had std 30-70 (saturated tanh actions).
            Checkpoints from before this argument used False.
    """

    def __init__(
        self,
        in_dim,
        out_dim,
        hidden=16,
        max_width=512,
        decoder="full",
        rank=16,
        max_depth=archspace.MAX_DEPTH,
        output_scale=0.1,
        code_slope=0.1,
        code_norm=True,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"bad GHN decoder {decoder!r}: allowed {', '.join(DECODERS)}")
        if decoder == "lowrank" and not 1 <= rank <= max_width:
            raise ValueError(f"bad GHN rank {rank}: allowed 1..max_width={max_width}")
        if not 0.0 <= code_slope < 1.0:
            raise ValueError(f"bad GHN code slope {code_slope}: allowed 0 <= slope < 1")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not 1 <= value <= max_width:
                raise ValueError(f"bad {name} {value}: the GHN generates layers of 1..max_width={max_width} inputs/outputs")
        self.config = dict(
            in_dim=in_dim,
            out_dim=out_dim,
            hidden=hidden,
            max_width=max_width,
            decoder=decoder,
            rank=rank,
            max_depth=max_depth,
            output_scale=output_scale,
            code_slope=code_slope,
            code_norm=code_norm,
        )
        self.in_dim, self.out_dim, self.max_width, self.max_depth = in_dim, out_dim, max_width, max_depth
        self.output_scale = output_scale
        self.decoder, self.rank, self.code_slope, self.code_norm = decoder, rank, code_slope, code_norm
        code_dim = 128

        # Node encoder (Sec. II-A: "a simple linear encoder"). Features: width / max_width,
        # log2(width + 1) / log2(max_width + 1) and a one-hot of the role (input, weight, bias,
        # output). The authors encode the raw width alone; the role tells the weight and bias nodes
        # of one layer apart before message passing.
        self.encoder = nn.Linear(2 + 4, hidden)
        # Gated GNN: message MLP + GRU cell, one forward and one backward sweep (Sec. II-A).
        self.message = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.gru = nn.GRUCell(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        # Weight decoder: node embedding -> 64 -> 128 (the authors' 1x1 convs are these linears) -> matrix.
        # The codes end in a leaky ReLU: a code unit that a plain ReLU switches off for every node gets
        # no gradient and stays off, and once all are off every generated matrix is the heads' bias.
        self.weight_trunk = nn.Sequential(nn.Linear(hidden, 64), nn.ReLU(), nn.Linear(64, code_dim), nn.LeakyReLU(code_slope))
        if decoder == "full":
            self.weight_head = nn.Linear(code_dim, max_width * max_width)
        else:
            self.row_head = nn.Linear(code_dim, max_width * rank)
            self.col_head = nn.Linear(code_dim, max_width * rank)
        # Bias decoder: node embedding -> 32 -> max_width vector, cropped to fan_out.
        self.bias_decoder = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, max_width))
        # codes of rms 1 (code_norm), or of E[code^2] ~ 1/2 as assumed before it: decoded entries of unit variance
        self.code_scale = math.sqrt((1.0 if code_norm else 2.0) / code_dim)
        self._init_heads()

    @torch.no_grad()
    def _init_heads(self):
        # Decoded entries start with unit variance, so that the fan-in scale applied in forward()
        # gives He-initialised policies with stable activations at every depth and width: a head
        # entry is sum_k w_k c_k code_scale with w_k ~ N(0, 1), of variance mean(c^2) code_dim
        # code_scale^2, which is exactly 1 for every node when its code c has rms 1 (code_norm).
        # The scale sits on the codes, not in the init ("equalised learning rate", Karras et al.
        # 2018): with the usual small init, every Adam step moves all 128 weights feeding a decoded
        # entry by ~lr each, so generated weights moved ~64x faster than an ordinary MLP's, and
        # GHP-SAC on Pendulum blew its policies up to outputs of 1e7 within a few thousand steps.
        heads = [self.weight_head] if self.decoder == "full" else [self.row_head, self.col_head]
        for head in heads:  # U V^T / sqrt(rank) has unit variance when U and V do
            nn.init.normal_(head.weight, std=1.0)
            nn.init.zeros_(head.bias)
        for layer in self.weight_trunk:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        # Generated biases start small (the usual zero-ish bias init) but not exactly zero, so the
        # whole bias decoder receives gradients from the first step.
        self.bias_decoder[-1].weight.mul_(0.1)
        self.bias_decoder[-1].bias.zero_()

    def param_groups(self, weight_decay):
        """Optimizer parameter groups that apply `weight_decay` to the weights as the forward pass
        uses them. The decoder heads store unit-variance weights and multiply codes scaled by
        code_scale (see _init_heads), so their effective weights are code_scale x the stored ones,
        and a decay d on the effective weights is a decay d * code_scale^2 on the stored ones. The
        same d on the stored weights would act as d / code_scale^2 = 64 d on the effective ones."""
        heads = [self.weight_head] if self.decoder == "full" else [self.row_head, self.col_head]
        scaled = [head.weight for head in heads]
        rest = [p for p in self.parameters() if all(p is not w for w in scaled)]
        return [
            {"params": rest, "weight_decay": weight_decay},
            {"params": scaled, "weight_decay": weight_decay * self.code_scale**2},
        ]

    # ---- checkpoints -------------------------------------------------------------------------
    def to_checkpoint(self):
        """Everything needed to rebuild this GHN without the training script."""
        return {"config": dict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint, map_location=None):
        """Rebuild a GHN from `to_checkpoint()` output (or a path to a torch.save of it)."""
        if isinstance(checkpoint, str):
            checkpoint = torch.load(checkpoint, map_location=map_location, weights_only=True)
        # older GHNs ended their codes in a plain ReLU (before code_slope), and did not normalise them (before code_norm)
        ghn = cls(**{"code_slope": 0.0, "code_norm": False, **checkpoint["config"]})
        ghn.load_state_dict(checkpoint["state_dict"])
        return ghn

    # ---- generation --------------------------------------------------------------------------
    def check_arch(self, arch):
        """Raise ValueError unless this GHN can generate `arch`; return it as a tuple."""
        arch = tuple(arch)
        if not 1 <= len(arch) <= self.max_depth:
            raise ValueError(f"bad architecture {list(arch)}: {len(arch)} hidden layers, allowed 1..{self.max_depth}")
        for width in arch:
            if not (isinstance(width, numbers.Integral) and 1 <= width <= self.max_width):
                raise ValueError(f"bad architecture {list(arch)}: width {width!r}, allowed integers 1..{self.max_width}")
        return arch

    def _node_features(self, archs, device, num_nodes=None):
        """Node features (B, N, 6) and chain lengths (B,) of the archs' graphs (Eq. 3), padded to
        the longest graph (or to num_nodes)."""
        graphs = [(archspace.arch_graph(arch, self.out_dim), archspace.graph_roles(arch)) for arch in archs]
        num_nodes = num_nodes or max(len(values) for values, _ in graphs)
        features = torch.zeros(len(archs), num_nodes, 6)
        log_max = math.log2(self.max_width + 1)
        for b, (values, roles) in enumerate(graphs):
            for n, (value, role) in enumerate(zip(values, roles)):
                features[b, n, 0] = value / self.max_width
                features[b, n, 1] = math.log2(value + 1) / log_max
                features[b, n, 2 + role] = 1.0
        lengths = torch.tensor([len(values) for values, _ in graphs])
        return features.to(device=device, dtype=self.encoder.weight.dtype), lengths.to(device)

    def embed(self, archs):
        """Node embeddings (B, N, hidden) after encoder, both GRU sweeps and LayerNorm."""
        return self._embed(*self._node_features(archs, self.encoder.weight.device))

    def _embed_plain(self, features, lengths):
        """The gated GNN as written in the paper (Sec. II-A), node by node: encode, then a forward and a backward sweep in
        which node t takes the GRU cell of the message from its predecessor (then its successor); nodes past a chain's
        length are left as they are; LayerNorm. `_embed` computes the same, faster."""
        states = list(self.encoder(features).unbind(1))
        for t in range(1, len(states)):  # forward sweep
            states[t] = torch.where((t < lengths)[:, None], self.gru(self.message(states[t - 1]), states[t]), states[t])
        for t in range(len(states) - 2, -1, -1):  # backward sweep
            states[t] = torch.where((t + 1 < lengths)[:, None], self.gru(self.message(states[t + 1]), states[t]), states[t])
        return self.norm(torch.stack(states, 1))

    def _embed(self, features, lengths):
        """The gated GNN over padded chains (what `_embed_plain` computes): nodes past a chain's length are left as they are.

        Node t's update is the GRU cell self.gru(message(sender), state_t), written out so that the
        sequential part of each sweep is as short as it can be: the GRU's hidden-side map W_hh h_t
        only reads states the sweep has not changed yet, so it is computed for all nodes at once, and
        the message MLP's last linear map and the GRU's input map are composed into one."""
        gru, first, last = self.gru, self.message[0], self.message[2]
        input_weight = gru.weight_ih @ last.weight  # W_ih (W_2 m + b_2) + b_ih = (W_ih W_2) m + (W_ih b_2 + b_ih)
        input_bias = gru.weight_ih @ last.bias + gru.bias_ih
        hidden = gru.hidden_size
        states = self.encoder(features)  # (B, N, hidden)
        num_nodes = states.shape[1]
        for order in (range(1, num_nodes), range(num_nodes - 2, -1, -1)):  # forward sweep, then backward
            step = 1 if order.step > 0 else -1  # node t receives from node t - step
            hidden_side = F.linear(states, gru.weight_hh, gru.bias_hh).unbind(1)
            states = list(states.unbind(1))
            for t in order:
                input_side = F.linear(F.relu(first(states[t - step])), input_weight, input_bias)
                reset, update = torch.sigmoid(input_side[:, : 2 * hidden] + hidden_side[t][:, : 2 * hidden]).chunk(2, 1)
                candidate = torch.tanh(input_side[:, 2 * hidden :] + reset * hidden_side[t][:, 2 * hidden :])
                new_state = candidate + update * (states[t] - candidate)  # (1 - z) n + z h
                receives = (t < lengths) if step > 0 else (t + 1 < lengths)
                states[t] = torch.where(receives[:, None], new_state, states[t])
            states = torch.stack(states, 1)
        return self.norm(states)

    def _codes(self, node_embeddings):
        """The weight codes the heads decode: the trunk's output, divided by its rms per node (code_norm)."""
        codes = self.weight_trunk(node_embeddings)
        return F.rms_norm(codes, codes.shape[-1:], eps=1e-12) if self.code_norm else codes

    def _decode_weights(self, codes, crops, naive):
        codes = codes * self.code_scale  # equalised learning rate of the heads, see _init_heads
        if self.decoder == "lowrank":
            rows = self.row_head(codes).view(len(crops), self.max_width, self.rank).unbind(0)
            cols = self.col_head(codes).view(len(crops), self.max_width, self.rank).unbind(0)
            return [
                row[:fan_out] @ col[:fan_in].t() / math.sqrt(self.rank)
                for row, col, (fan_out, fan_in) in zip(rows, cols, crops)
            ]
        if naive:  # decode all max_width^2 entries, then crop: the reference the fast path must match
            full = self.weight_head(codes).view(len(crops), self.max_width, self.max_width).unbind(0)
            return [matrix[:fan_out, :fan_in] for matrix, (fan_out, fan_in) in zip(full, crops)]
        return list(CroppedDecode.apply(codes, self.weight_head.weight, self.weight_head.bias, crops, self.max_width))

    def forward(self, archs, naive_decode=False):
        """Parameters for every arch in `archs`: a list (one entry per arch) of
        [(W_1, b_1), ..., (W_out, b_out)] with W_l of shape (fan_out, fan_in)."""
        archs = [self.check_arch(arch) for arch in archs]
        embeddings = self.embed(archs)
        # Which node decodes what (archspace.arch_graph): weight node 2l - 1 -> W_l, bias node 2l ->
        # b_l, and the single output node 2k + 1 -> both W_out and b_out.
        weight_nodes, weight_crops, bias_nodes, bias_sizes = [], [], [], []
        for b, arch in enumerate(archs):
            for layer, (fan_out, fan_in) in enumerate(archspace.layer_shapes(arch, self.in_dim, self.out_dim)):
                weight_node = 2 * layer + 1
                bias_node = weight_node + 1 if layer < len(arch) else weight_node
                weight_nodes.append((b, weight_node))
                weight_crops.append((fan_out, fan_in))
                bias_nodes.append((b, bias_node))
                bias_sizes.append(fan_out)
        index = torch.tensor(weight_nodes, device=embeddings.device)
        weights = self._decode_weights(self._codes(embeddings[index[:, 0], index[:, 1]]), weight_crops, naive_decode)
        index = torch.tensor(bias_nodes, device=embeddings.device)
        biases = self.bias_decoder(embeddings[index[:, 0], index[:, 1]]).unbind(0)

        params, k = [], 0
        for arch in archs:
            layers = []
            for layer in range(len(arch) + 1):
                # Fan-in scaling of the unit-variance decoded entries (as GHN-2's weight_norm): He
                # (gain 2) before a ReLU; the output layer gets output_scale * LeCun, see __init__.
                if layer < len(arch):
                    scale = math.sqrt(2.0 / weight_crops[k][1])
                else:
                    scale = self.output_scale * math.sqrt(1.0 / weight_crops[k][1])
                layers.append((weights[k] * scale, biases[k][: bias_sizes[k]]))
                k += 1
            params.append(layers)
        return params

    @torch.no_grad()
    def to_mlp(self, arch, out_rows=None):
        """A plain nn.Sequential carrying the generated weights of `arch` (params_to_mlp)."""
        return params_to_mlp(self([arch])[0], out_rows)

    def policies(self, arch_ids):
        """The policies of a meta-batch (arch_ids from arch_ids()) as one function: inputs
        (B, n, in_dim) -> outputs (B, n, out_dim), inputs[b] through the policy of arch b. Uses the
        static-shape path (batched) where it is fast: the lowrank decoder, the full decoder on a GPU
        (decoding padded 512 x 512 matrices is cheap there) and under torch.compile; on CPU the full
        decoder keeps the cropped decode of forward() (padding takes twice its time there,
        benchmarks/bench.py). Both give the same values."""
        if self.decoder == "lowrank" or self.encoder.weight.is_cuda or torch.compiler.is_compiling():
            return self.batched(arch_ids)
        space = self._space_tables()["space"]
        params = self([space[i] for i in arch_ids.tolist()])
        return lambda inputs: torch.stack([mlp_forward(layers, chunk) for layers, chunk in zip(params, inputs)])

    # ---- static-shape fast path ---------------------------------------------------------------
    # The same policies as forward(), with shapes that do not depend on which archs were sampled:
    # every arch of archspace.all_archs() has an id; its graph is padded to 2 * max_depth + 2 nodes,
    # and its layers to max_depth + 1 slots of max_width units: hidden slots past its depth are
    # identity layers (exact after a ReLU), the last slot is the output layer, and units past a
    # layer's width have zero weights and biases, so they stay exactly zero.

    def arch_ids(self, archs):
        """Ids (a LongTensor) of archs in archspace.all_archs() (widths up to max_width), the space
        the static-shape path covers."""
        tables = self._space_tables()
        try:
            ids = [tables["index"][tuple(arch)] for arch in archs]
        except KeyError as error:
            raise ValueError(
                f"architecture {list(error.args[0])} is outside archspace.all_archs(), which the "
                "static-shape path covers: use ghn(archs)"
            ) from None
        return torch.tensor(ids, device=self.encoder.weight.device)

    def _space_tables(self):
        """Per-arch tables of the space, built once (and moved to the GHN's device when it moves)."""
        device, dtype = self.encoder.weight.device, self.encoder.weight.dtype
        tables = getattr(self, "_tables", None)
        if tables is None:
            space = archspace.all_archs([w for w in archspace.WIDTHS if w <= self.max_width], self.max_depth)
            slots, num_nodes = self.max_depth + 1, 2 * self.max_depth + 2
            features, lengths = self._node_features(space, "cpu", num_nodes)
            weight_node = torch.zeros(len(space), slots, dtype=torch.long)
            bias_node = torch.zeros(len(space), slots, dtype=torch.long)
            fan_out = torch.zeros(len(space), slots, dtype=torch.long)  # 0: an absent (identity) slot
            scale = torch.zeros(len(space), slots, dtype=torch.float64)
            for a, arch in enumerate(space):
                for layer, (rows, cols) in enumerate(archspace.layer_shapes(arch, self.in_dim, self.out_dim)):
                    slot = layer if layer < len(arch) else slots - 1
                    weight_node[a, slot] = 2 * layer + 1
                    bias_node[a, slot] = 2 * layer + 2 if layer < len(arch) else 2 * layer + 1
                    fan_out[a, slot] = rows
                    scale[a, slot] = math.sqrt(2.0 / cols) if layer < len(arch) else self.output_scale * math.sqrt(1.0 / cols)
            tables = {
                "space": space,
                "index": {arch: a for a, arch in enumerate(space)},
                "features": features,
                "lengths": lengths,
                "weight_node": weight_node,
                "bias_node": bias_node,
                "fan_out": fan_out,
                "scale": scale,
            }
        if tables["scale"].device != device or tables["scale"].dtype != dtype:
            tables = {
                key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
                if torch.is_tensor(value)
                else value
                for key, value in tables.items()
            }
        self._tables = tables
        return tables

    def batched(self, arch_ids):
        """The policies of arch_ids (B,) with padded, static shapes: a BatchedPolicies whose call
        runs input chunk b through policy b. Same values and gradients as forward() on those archs."""
        tables = self._space_tables()
        embeddings = self._embed(tables["features"][arch_ids], tables["lengths"][arch_ids])  # (B, N, hidden)
        rows = torch.arange(len(arch_ids), device=arch_ids.device)[:, None]
        fan_out = tables["fan_out"][arch_ids]  # (B, S)
        unit_mask = (torch.arange(self.max_width, device=arch_ids.device) < fan_out[..., None]).to(embeddings.dtype)
        codes = self._codes(embeddings[rows, tables["weight_node"][arch_ids]]) * self.code_scale  # (B, S, 128)
        biases = self.bias_decoder(embeddings[rows, tables["bias_node"][arch_ids]]) * unit_mask  # (B, S, M)
        scale = tables["scale"][arch_ids]
        shape = (*codes.shape[:2], self.max_width)
        if self.decoder == "lowrank":  # the factors only: W = U V^T is never built
            row_factors = self.row_head(codes).view(*shape, self.rank) * unit_mask[..., None]
            col_factors = self.col_head(codes).view(*shape, self.rank)
            return BatchedPolicies(
                biases,
                scale / math.sqrt(self.rank),
                fan_out > 0,
                self.out_dim,
                row_factors=row_factors,
                col_factors=col_factors,
            )
        weights = self.weight_head(codes).view(*shape, self.max_width) * unit_mask[..., None]
        return BatchedPolicies(biases, scale, fan_out > 0, self.out_dim, weights=weights)


class BatchedPolicies:
    """B generated MLPs padded to S = max_depth + 1 layer slots of M units (GHN.batched).

    Call with inputs (B, n, in_dim): row b of the result (B, n, out_dim) is policy b applied to
    inputs[b]. Layer slot s computes relu(scale_s * W_s h + b_s), with W_s either given (weights,
    (B, S, M, M)) or factored as U_s V_s^T ((x V) U^T: row_factors, col_factors, (B, S, M, r)).
    Units past a layer's width have zero weights and biases, hence output exactly 0; a slot that is
    absent from an arch (present False) passes its input through, which is exact after a ReLU."""

    def __init__(self, biases, scale, present, out_dim, weights=None, row_factors=None, col_factors=None):
        # split into slots once: slicing the (B, S, ...) tensors per slot would make autograd
        # allocate and zero-fill a full-size gradient for every slice (notes.md)
        split = lambda tensor: None if tensor is None else tensor.unbind(1)  # noqa: E731
        self.biases, self.scale, self.present = split(biases), split(scale[..., None, None]), split(present[..., None, None])
        self.weights, self.row_factors, self.col_factors = split(weights), split(row_factors), split(col_factors)
        self.out_dim, self.slots = out_dim, scale.shape[1]

    def _linear(self, slot, inputs, rows=None):
        """scale * W_slot inputs + b_slot for every policy, W cropped to its first `rows` rows."""
        fan_in = inputs.shape[-1]
        if self.weights is not None:
            pre = inputs @ self.weights[slot][:, :rows, :fan_in].transpose(1, 2)
        else:
            pre = (inputs @ self.col_factors[slot][:, :fan_in]) @ self.row_factors[slot][:, :rows].transpose(1, 2)
        return pre * self.scale[slot] + self.biases[slot][:, None, :rows]

    def __call__(self, inputs):
        hidden = torch.relu(self._linear(0, inputs))
        for slot in range(1, self.slots - 1):
            hidden = torch.where(self.present[slot], torch.relu(self._linear(slot, hidden)), hidden)
        return self._linear(self.slots - 1, hidden, rows=self.out_dim)


class CompilableAdam(optim.Adam):
    """torch.optim.Adam whose step and zero_grad are plain tensor ops, which torch.compile traces into the one compiled
    update of ghp_sac.py and ghp_ddpg_her.py with --compile (torch's own break the graph): torch's arithmetic (bias
    corrections in float64), torch's state_dict. Not part of the GHN: it sits here so that both scripts share it."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.load_state_dict(self.state_dict())

    def load_state_dict(self, state_dict):  # torch's, then the state made now (torch's Adam: at its first step), static
        super().load_state_dict(state_dict)
        for param in [param for group in self.param_groups for param in group["params"]]:
            if not self.state[param]:
                zeros = {"exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
                self.state[param] = {"step": torch.zeros((), device=param.device), **zeros}
            for tensor in [param, *self.state[param].values()]:  # the step changes them in place: CUDA graphs need it fixed
                torch._dynamo.mark_static_address(tensor)

    def zero_grad(self):
        for param in [param for group in self.param_groups for param in group["params"]]:
            param.grad = None

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            (beta1, beta2), decay, eps = group["betas"], group["weight_decay"], group["eps"]
            for param in group["params"]:
                state = self.state[param]
                state["step"] += 1
                steps = state["step"].double()  # in float64 as torch.optim.Adam: float32 makes 0.999 into 0.99900001
                grad = param.grad if decay == 0 else param.grad + decay * param
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = state["exp_avg_sq"].sqrt() / (1 - beta2**steps).sqrt() + eps
                param.sub_(group["lr"] / (1 - beta1**steps) * state["exp_avg"] / denominator)

    step.hooked = True  # tells torch.optim not to wrap it in a profiler hook, which torch.compile would skip with a warning
