import numpy as np
import pytest
import torch
from float32_bound import mlp_float32_error_bound

import archspace
from ghn import GHN, mlp_forward

PROBE = [(4,), (8, 4, 4, 4), (16, 16), (64, 64), (256, 256), (512, 512, 512, 512), (512, 4, 512)]


@pytest.fixture(scope="module")
def hopper_ghn():
    torch.manual_seed(0)
    return GHN(in_dim=11, out_dim=6)


def test_generated_shapes_match_layers(hopper_ghn):
    params = hopper_ghn(PROBE)
    assert len(params) == len(PROBE)
    for arch, layers in zip(PROBE, params):
        shapes = [(tuple(w.shape), tuple(b.shape)) for w, b in layers]
        expected = [((o, i), (o,)) for o, i in archspace.layer_shapes(arch, 11, 6)]
        assert shapes == expected


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_cropped_decode_equals_full_decode_then_crop(decoder):
    torch.manual_seed(1)
    ghn = GHN(in_dim=11, out_dim=6, decoder=decoder).double()
    archs = PROBE + [(4,), (16, 16)]  # repeated crop shapes exercise the grouped path
    fast, naive = ghn(archs), ghn(archs, naive_decode=True)
    for fast_layers, naive_layers in zip(fast, naive):
        for (w, b), (wn, bn) in zip(fast_layers, naive_layers):
            torch.testing.assert_close(w, wn, atol=1e-6, rtol=0)
            torch.testing.assert_close(b, bn, atol=1e-6, rtol=0)


def test_cropped_decode_gradients_equal_naive():
    torch.manual_seed(2)
    ghn = GHN(in_dim=5, out_dim=2, max_width=64).double()
    archs = [(8, 4), (64, 64, 16), (8,), (8, 4)]
    x = torch.randn(7, 5, dtype=torch.float64)
    grads = []
    for naive in (False, True):
        ghn.zero_grad()
        loss = sum((mlp_forward(p, x) ** 2).sum() for p in ghn(archs, naive_decode=naive))
        loss.backward()
        grads.append([p.grad.clone() for p in ghn.parameters()])
    for fast, naive in zip(*grads):
        torch.testing.assert_close(fast, naive, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_gradients_reach_every_parameter(decoder):
    torch.manual_seed(3)
    ghn = GHN(in_dim=11, out_dim=6, max_width=64, decoder=decoder)
    x = torch.randn(32, 11)
    loss = sum(mlp_forward(p, x).pow(2).mean() for p in ghn([(8, 4, 4, 4), (64,), (16, 32)]))
    loss.backward()
    for name, param in ghn.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


START_ARCHS = [(4,), (512,), (16, 256), (64, 8, 128), (256, 32, 4), (4, 4, 4, 4), (8, 4, 4, 4), (16, 512, 16, 512), (512,) * 4]


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_fresh_ghn_starts_every_seed_at_the_intended_scale(decoder):
    """The start of docs/method.md, for 24 seeds and archs of depth 1-4, widths 4-512, Hopper's and Fetch's dims:
    hidden layers He (std sqrt(2 / fan_in)), the output layer 0.1 x LeCun (0.1 sqrt(1 / fan_in)).

    With unit-rms codes a decoded entry is N(0, 1) over the heads' random init, so a layer's realised std over its
    n >= 16 entries is sqrt(chi2_n / n): outside a factor 2 (chi2_16 < 4 or > 64) with probability < 2e-3 for the
    smallest layers, and the lowrank product U V^T of two such factors concentrates as well (measured over 40 seeds:
    0.60-1.40 for both decoders). Before the codes were normalised, the lowrank layers of seed 1 were ~4x too large
    (up to 4.7x over 40 seeds) and the full decoder's up to 2.5x. The action means (first half of the outputs, before
    the tanh) must then be small: pooled over seeds, archs and inputs < 1% beyond |2| (tanh 0.96), and no policy with
    over a quarter of them there (measured 0.1% and 17%, the worst a [4,4,4,4] whose near-identical 4 x 4 layers
    compound; before: 28% and 99% for lowrank, outputs of std up to 220)."""
    saturated = []
    for seed in range(24):
        torch.manual_seed(seed)
        in_dim, out_dim = (11, 6) if seed % 2 == 0 else (28, 8)
        ghn = GHN(in_dim=in_dim, out_dim=out_dim, decoder=decoder)
        inputs = torch.randn(256, in_dim)  # normalised observations
        with torch.no_grad():
            for arch, layers in zip(START_ARCHS, ghn(START_ARCHS)):
                for depth, (weight, _) in enumerate(layers):
                    fan_in = weight.shape[1]
                    target = (2 / fan_in) ** 0.5 if depth < len(arch) else 0.1 * (1 / fan_in) ** 0.5
                    assert 0.5 < weight.std(correction=0).item() / target < 2, (seed, arch, depth)
                action_means = mlp_forward(layers, inputs)[:, : out_dim // 2]
                saturated.append((action_means.abs() > 2).double().mean().item())
    assert np.mean(saturated) < 0.01 and np.max(saturated) < 0.25, (np.mean(saturated), np.max(saturated))


def test_to_mlp_matches_functional_forward(hopper_ghn):
    x = torch.randn(16, 11)
    for arch in [(4,), (16, 8, 32, 8), (256, 256)]:
        with torch.no_grad():
            expected = mlp_forward(hopper_ghn([arch])[0], x)
        mlp = hopper_ghn.to_mlp(arch)
        assert isinstance(mlp, torch.nn.Sequential) and len(mlp) == 2 * len(arch) + 1
        # the same float32 weights; the two forwards may sum in other orders (other kernels)
        layers = [
            (layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in mlp if isinstance(layer, torch.nn.Linear)
        ]
        _, bound = mlp_float32_error_bound(layers, x.numpy())
        with torch.no_grad():
            assert np.all((mlp(x) - expected).abs().numpy() <= 2 * bound)
            head = hopper_ghn.to_mlp(arch, out_rows=3)  # action-mean head for deployment
            assert np.all((head(x) - expected[:, :3]).abs().numpy() <= 2 * bound[:, :3])
        assert not any(p.requires_grad and p.grad is not None for p in head.parameters())
        assert sum(p.numel() for p in head.parameters()) == archspace.num_params(arch, 11, 3)


@pytest.mark.parametrize(
    "arch, message",
    [
        ((), "allowed 1..4"),
        ((8, 8, 8, 8, 8), "allowed 1..4"),
        ((1024,), "allowed integers 1..512"),
        ((0, 8), "allowed integers 1..512"),
        ((8.5,), "allowed integers 1..512"),
    ],
)
def test_bad_arch_is_a_clear_error(hopper_ghn, arch, message):
    with pytest.raises(ValueError, match=message):
        hopper_ghn([arch])


def test_bad_constructor_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="bad in_dim 600"):
        GHN(in_dim=600, out_dim=4)
    with pytest.raises(ValueError, match="bad GHN decoder 'tiny'"):
        GHN(in_dim=4, out_dim=4, decoder="tiny")
    with pytest.raises(ValueError, match="bad GHN code slope 1.5"):
        GHN(in_dim=4, out_dim=4, code_slope=1.5)
    with pytest.raises(ValueError, match="bad out_rows 9"):
        GHN(in_dim=4, out_dim=4, max_width=16).to_mlp((8,), out_rows=9)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    ghn = GHN(in_dim=7, out_dim=4, hidden=8, max_width=32, decoder="lowrank", rank=4)
    torch.save(ghn.to_checkpoint(), tmp_path / "ghn.pt")
    loaded = GHN.from_checkpoint(str(tmp_path / "ghn.pt"))
    assert loaded.config == ghn.config
    x = torch.randn(3, 7)
    with torch.no_grad():
        torch.testing.assert_close(mlp_forward(loaded([(32, 8)])[0], x), mlp_forward(ghn([(32, 8)])[0], x))


def test_a_checkpoint_from_before_code_slope_and_code_norm_loads_as_it_ran():
    """GHNs saved before `code_slope` existed ended their codes in a ReLU, and before `code_norm` did not normalise
    them; they must load as they ran."""
    torch.manual_seed(5)
    old_ghn = GHN(in_dim=7, out_dim=4, hidden=8, max_width=32, decoder="lowrank", rank=4, code_slope=0.0, code_norm=False)
    checkpoint = old_ghn.to_checkpoint()
    del checkpoint["config"]["code_slope"], checkpoint["config"]["code_norm"]
    loaded = GHN.from_checkpoint(checkpoint)
    assert (loaded.code_slope, loaded.code_norm) == (0.0, False)
    assert (GHN(in_dim=7, out_dim=4).code_slope, GHN(in_dim=7, out_dim=4).code_norm) == (0.1, True)
    x = torch.randn(3, 7)
    with torch.no_grad():
        expected = mlp_forward(old_ghn([(32, 8)])[0], x)
        torch.testing.assert_close(mlp_forward(loaded([(32, 8)])[0], x), expected)
        normalised = GHN(**{**old_ghn.config, "code_norm": True})
        normalised.load_state_dict(old_ghn.state_dict())
        assert (mlp_forward(normalised([(32, 8)])[0], x) - expected).abs().max() > 1e-3  # the flag changes the policy


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_code_units_that_are_off_for_every_node_still_learn_with_the_leaky_trunk(decoder):
    """The HalfCheetah collapse (docs/results.md): once every code unit's pre-activation is negative,
    a plain ReLU gives all-zero codes, so every generated matrix is the heads' bias (zero at init),
    the same for every arch, and no gradient reaches the trunk to switch a unit back on. With the
    leaky ReLU the codes are slope x pre-activation and the trunk keeps its gradient."""
    archs = [(4,), (16, 8)]
    for slope in (0.0, 0.1):
        torch.manual_seed(6)
        ghn = GHN(in_dim=5, out_dim=3, hidden=8, max_width=32, decoder=decoder, rank=4, code_slope=slope)
        with torch.no_grad():
            ghn.weight_trunk[2].bias.fill_(-100.0)  # every code unit off for every node
        embeddings = ghn.embed(archs)
        pre_activations = ghn.weight_trunk[:-1](embeddings)
        assert (pre_activations < 0).all()
        # exact: on negative inputs the leaky ReLU is one float32 multiply by the slope, as here
        torch.testing.assert_close(ghn.weight_trunk(embeddings), slope * pre_activations, rtol=0, atol=0)
        first_layers = [params[0][0] for params in ghn(archs)]
        sum(weight.square().sum() for weight in first_layers).backward()
        trunk_grad = ghn.weight_trunk[2].weight.grad
        if slope == 0.0:
            assert all((weight == 0).all() for weight in first_layers)
            assert trunk_grad is None or (trunk_grad == 0).all()
        else:
            assert all(weight.abs().max() > 0 for weight in first_layers)
            assert trunk_grad.abs().max() > 0


def test_ghn_learns_regression_for_four_archs_at_once():
    torch.manual_seed(5)
    ghn = GHN(in_dim=2, out_dim=1, max_width=64)
    archs = [(16,), (32, 16), (8, 8, 8), (64, 64)]
    x = torch.rand(256, 2) * 6 - 3
    y = torch.sin(x[:, :1]) * torch.cos(x[:, 1:])
    optimizer = torch.optim.Adam(ghn.parameters(), lr=1e-3)

    def losses():
        return [torch.nn.functional.mse_loss(mlp_forward(p, x), y) for p in ghn(archs)]

    with torch.no_grad():
        start = np.array([loss.item() for loss in losses()])
    for _ in range(400):
        optimizer.zero_grad()
        torch.stack(losses()).sum().backward()
        optimizer.step()
    with torch.no_grad():
        end = np.array([loss.item() for loss in losses()])
    assert np.all(end < start / 10), (start, end)


def effective_head_scale(ghn, head_weight, decoded_rows):
    """d(decoded entries) / d(raw code) divided by the stored head weights: how much of a stored
    weight reaches the generated matrix. All entries agree; returns that one number."""
    codes = torch.randn(1, head_weight.shape[1], dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(decoded_rows, codes).reshape(-1, head_weight.shape[1])
    ratio = jacobian / head_weight.detach()
    assert torch.allclose(ratio, ratio[0, 0].expand_as(ratio), rtol=1e-9, atol=0)
    return ratio[0, 0].item()


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_weight_decay_acts_on_the_effective_decoder_weights(decoder):
    """The authors' decay (1e-5) must act on the weights the decoder applies to its codes, not on the
    unit-variance stored ones (which would be 1/128 -> 128x stronger)."""
    torch.manual_seed(6)
    width, rank = 8, 4
    ghn = GHN(in_dim=3, out_dim=2, max_width=width, decoder=decoder, rank=rank).double()
    if decoder == "full":
        head = ghn.weight_head
        scale = effective_head_scale(ghn, head.weight, lambda z: ghn._decode_weights(z, [(width, width)], naive=True)[0])
    else:
        # columns factor V = sqrt(rank) e_0 in every row, so W[:, 0] = U[:, 0]: the row head's output alone
        head = ghn.row_head
        with torch.no_grad():
            ghn.col_head.weight.zero_()
            ghn.col_head.bias.copy_((torch.eye(rank)[0] * rank**0.5).repeat(width))
        rows = head.weight[::rank]  # the entries that feed U[:, 0]
        scale = effective_head_scale(ghn, rows, lambda z: ghn._decode_weights(z, [(width, width)], naive=True)[0][:, 0])
    assert scale == pytest.approx((1 / 128) ** 0.5, rel=1e-12)  # the codes have rms 1 (code_norm)

    groups = ghn.param_groups(1e-5)
    grouped = [p for group in groups for p in group["params"]]
    assert len(grouped) == len(list(ghn.parameters())) and {id(p) for p in grouped} == {id(p) for p in ghn.parameters()}
    decay_of = {id(p): group["weight_decay"] for group in groups for p in group["params"]}
    # Adam adds decay * stored weight to the stored weight's gradient; by the chain rule that is
    # decay / scale^2 * effective weight on the effective weight's gradient
    assert decay_of[id(head.weight)] / scale**2 == pytest.approx(1e-5, rel=1e-12)
    if decoder == "lowrank":
        assert decay_of[id(ghn.col_head.weight)] == decay_of[id(ghn.row_head.weight)]
    for name, param in ghn.named_parameters():
        if not name.endswith("head.weight"):
            assert decay_of[id(param)] == 1e-5, name


def reference_and_fast(ghn, archs, inputs):
    """Outputs and gradients (of a fixed random linear loss) of the reference path (ghn(archs) and
    one mlp_forward per arch) and of the static-shape path (ghn.batched), for inputs (B, n, in)."""
    weights = torch.randn(
        len(archs), inputs.shape[1], ghn.out_dim, dtype=inputs.dtype, generator=torch.Generator().manual_seed(0)
    ).to(inputs.device)
    results = []
    for fast in (False, True):
        ghn.zero_grad()
        if fast:
            outputs = ghn.batched(ghn.arch_ids(archs))(inputs)
        else:
            outputs = torch.stack([mlp_forward(params, inputs[b]) for b, params in enumerate(ghn(archs))])
        (outputs * weights).sum().backward()
        results.append((outputs.detach(), {name: p.grad.clone() for name, p in ghn.named_parameters()}))
    return results


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                not torch.cuda.is_available(), reason="needs a CUDA device (runs wherever one is present)"
            ),
        ),
    ],
)
@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_static_shape_path_equals_the_reference_path(decoder, device):
    """Same outputs and same gradients for every GHN parameter, in float64, for extreme archs, mixed
    depths and a duplicated arch in one meta-batch. The two paths only sum in other orders (the
    lowrank one never builds W = U V^T): float64 rounding of sums of <= 512 terms through <= 5 layers
    stays below 1e-12 of the values' scale, so 1e-9 of it is safe and far below what a wrong mask,
    slot or scale gives (O(1))."""
    torch.manual_seed(9)
    ghn = GHN(in_dim=11, out_dim=6, decoder=decoder).double().to(device)
    archs = [(4,), (512, 512, 512, 512), (8, 4, 4, 4), (16, 16), (256, 64, 8), (4,), (512, 4, 512), (32, 512, 4, 32)]
    inputs = torch.randn(len(archs), 5, 11, dtype=torch.float64).to(device)
    (reference, reference_grads), (fast, fast_grads) = reference_and_fast(ghn, archs, inputs)
    assert fast.shape == reference.shape == (len(archs), 5, 6)
    assert (fast - reference).abs().max() <= 1e-9 * reference.abs().max()
    for name, grad in reference_grads.items():
        assert grad.abs().max() > 0, name  # every parameter takes part
        assert (fast_grads[name] - grad).abs().max() <= 1e-9 * grad.abs().max(), name


def test_static_shape_path_covers_the_arch_space_only():
    ghn = GHN(in_dim=3, out_dim=2, max_width=512, decoder="lowrank")
    assert ghn.arch_ids([(4,), (512, 512, 512, 512)]).tolist() == [0, len(archspace.all_archs()) - 1]
    with pytest.raises(ValueError, match=r"architecture \[5\] is outside archspace.all_archs\(\)"):
        ghn.arch_ids([(5,)])


def test_embedding_sweeps_equal_plain_gru_cells():
    """_embed writes the GRU cell out (hidden-side map batched, message and input maps composed);
    it must equal nn.GRUCell applied to the message MLP's output, node by node, in float64."""
    torch.manual_seed(10)
    ghn = GHN(in_dim=11, out_dim=6, max_width=64, decoder="lowrank").double()
    archs = [(4,), (8, 16, 32, 64), (16, 16), (64, 4, 8)]
    features, lengths = ghn._node_features(archs, "cpu")
    expected = ghn._embed_plain(features, lengths)
    # float64 rounding of a few 16-term sums per step, over 2 x 8 steps: far below 1e-12
    torch.testing.assert_close(ghn._embed(features, lengths), expected, rtol=0, atol=1e-12)


def test_node_features_by_hand():
    """Eq. 3's nodes as the encoder sees them: width / 512, log2(width + 1) / log2(513), then a one-hot role
    (input, weight, bias, output); the input node has width 0 and the output node 2a (here 6)."""
    ghn = GHN(in_dim=11, out_dim=6, decoder="lowrank")
    features, lengths = ghn._node_features([(4, 8), (512,)], "cpu")
    log = np.log2([1, 5, 9, 7, 513]) / np.log2(513)  # widths 0, 4, 8, 6, 512
    expected_4_8 = [
        [0, log[0], 1, 0, 0, 0],  # input
        [4 / 512, log[1], 0, 1, 0, 0],  # W1
        [4 / 512, log[1], 0, 0, 1, 0],  # b1
        [8 / 512, log[2], 0, 1, 0, 0],  # W2
        [8 / 512, log[2], 0, 0, 1, 0],  # b2
        [6 / 512, log[3], 0, 0, 0, 1],  # output: W_out and b_out
    ]
    expected_512 = [[0, log[0], 1, 0, 0, 0], [1, 1, 0, 1, 0, 0], [1, 1, 0, 0, 1, 0], [6 / 512, log[3], 0, 0, 0, 1]]
    expected_512 += [[0] * 6] * 2  # padding to the longer chain
    assert lengths.tolist() == [6, 4]
    torch.testing.assert_close(features, torch.tensor([expected_4_8, expected_512], dtype=torch.float32), rtol=0, atol=1e-7)


def golden_ghn(decoder):
    """A small GHN (3 inputs, 2 outputs, widths <= 8) in float64 whose parameters come from numpy's PCG64 (the same
    numbers on every machine, unlike torch's vectorised init): the fixture of the golden-value test."""
    ghn = GHN(in_dim=3, out_dim=2, hidden=4, max_width=8, decoder=decoder, rank=2).double()
    rng = np.random.default_rng(2026)
    with torch.no_grad():
        for param in ghn.parameters():
            param.copy_(torch.from_numpy(0.5 * rng.standard_normal(tuple(param.shape))))
    return ghn


GOLDEN_ARCHS = [(4,), (8, 4)]
GOLDEN_INPUTS = [[1.0, -0.5, 0.25], [-2.0, 0.0, 1.5]]


def golden_numbers(decoder):
    """Per arch: the sum of each generated weight matrix and bias, and the policy's outputs on GOLDEN_INPUTS."""
    ghn = golden_ghn(decoder)
    inputs = torch.tensor(GOLDEN_INPUTS, dtype=torch.float64)
    with torch.no_grad():
        params = ghn(GOLDEN_ARCHS)
        sums = [[[weight.sum().item(), bias.sum().item()] for weight, bias in layers] for layers in params]
        outputs = [mlp_forward(layers, inputs).tolist() for layers in params]
    return sums, outputs


# Written by golden_numbers at commit 2c5b4b8 (code_norm added). Regenerate only on purpose, when the GHN's maths is
# meant to change, and say why in the commit: cd tests && python -c "from test_ghn import *; print(golden_numbers('full'))"
GOLDEN = {
    "full": (
        [
            [[-1.7094386115554725, 12.34220549564635], [0.0041886296315819214, 3.677121124391739]],
            [
                [-2.5711713613879166, 14.121467218462476],
                [-0.2061591343787349, 12.273046891553768],
                [0.00419419689095535, 3.6770898919969666],
            ],
        ],
        [
            [[1.5354444884109915, 2.032176871736976], [1.4757802857923794, 2.035058313629561]],
            [[1.6199258714902918, 1.7923331505362974], [1.564771867528636, 1.9731739565019928]],
        ],
    ),
    "lowrank": (
        [
            [[1.479413838862405, 1.3196343084493096], [0.06434321936874765, -0.27942465952788065]],
            [
                [4.0885758128342635, -0.5401398783586502],
                [0.004810262844133384, 1.354494774517582],
                [0.06432614378052147, -0.2810583719863893],
            ],
        ],
        [
            [[-2.083406550538741, 1.857498452009836], [-2.0841110144241517, 1.8562788388045122]],
            [[-2.0838332114139972, 1.8593157460574683], [-2.0838427732464266, 1.8592053675460392]],
        ],
    ),
}


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_ghn_outputs_equal_the_golden_values(decoder):
    """Fixed float64 outputs of both paths (ghn(archs) and the static-shape ghn.batched): a change made in both (say,
    biases decoded from the weight node) fails here, where the paths' agreement would not notice it. Float64 rounding
    of sums of <= 8 terms through 3 layers differs between machines by ~1e-15 of the values; 1e-9 is far below what
    any change of the maths gives."""
    expected_sums, expected_outputs = GOLDEN[decoder]
    sums, outputs = golden_numbers(decoder)
    for arch_sums, arch_expected in zip(sums, expected_sums):
        np.testing.assert_allclose(arch_sums, arch_expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-9, atol=1e-12)
    ghn = golden_ghn(decoder)
    inputs = torch.tensor(GOLDEN_INPUTS, dtype=torch.float64).expand(len(GOLDEN_ARCHS), -1, -1)
    with torch.no_grad():
        batched = ghn.batched(ghn.arch_ids(GOLDEN_ARCHS))(inputs)
    np.testing.assert_allclose(batched.numpy(), expected_outputs, rtol=1e-9, atol=1e-12)
