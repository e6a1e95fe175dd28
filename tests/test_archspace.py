import numpy as np
import pytest

import archspace
from archspace import (
    all_archs,
    arch_graph,
    d_lm,
    flash_bytes,
    num_params,
    parse_arch,
    pick,
    ram_bytes,
    sample_archs,
    select_under_budget,
)


def test_space_has_4680_archs_in_depth_then_lexicographic_order():
    archs = all_archs()
    assert len(archs) == 8 + 8**2 + 8**3 + 8**4 == 4680  # Eq. 2
    assert len(set(archs)) == 4680
    assert archs[:2] == [(4,), (8,)] and archs[8] == (4, 4) and archs[-1] == (512, 512, 512, 512)
    assert [len(a) for a in archs] == sorted(len(a) for a in archs)
    assert archs[8:72] == sorted(archs[8:72])


def test_smaller_space_lists_depth_then_widths():
    assert all_archs(widths=(8, 4), max_depth=2) == [(4,), (8,), (4, 4), (4, 8), (8, 4), (8, 8)]


@pytest.mark.parametrize(
    "arch, in_dim, out_dim, expected",
    [
        ((256, 256), 11, 3, 69635),
        ((8, 4, 4, 4), 11, 3, 187),
        ((16, 8, 32, 8), 17, 6, 1030),  # paper numbers
        ((256, 256), 17, 6, 71942),
        ((16, 16, 4), 17, 6, 658),
        ((4, 8), 13, 4, 132),
    ],  # Table I
)
def test_num_params_matches_paper(arch, in_dim, out_dim, expected):
    assert num_params(arch, in_dim, out_dim) == expected


def test_d_lm_follows_algorithm_1_by_hand():
    # Algorithm 1: (in + 2) * l1 + sum_{j>=2} min(l1..lj) + min(l1..lk, out)
    assert d_lm((256, 256), 11, 3) == 13 * 256 + 256 + 3  # 3587
    assert d_lm((8, 4, 4, 4), 11, 3) == 13 * 8 + 4 + 4 + 4 + 3  # 119
    assert d_lm((16, 8, 32, 8), 17, 6) == 19 * 16 + 8 + 8 + 8 + 6  # 334
    assert d_lm((4,), 11, 3) == 13 * 4 + 3  # single layer: no loop, line 5 only


@pytest.mark.parametrize("text", ["16,8,32,8", "[16, 8, 32, 8]", "16-8-32-8", " 16, 8,32 ,8 ", "(16,8,32,8)"])
def test_parse_arch_reads_every_written_form(text):
    assert parse_arch(text) == (16, 8, 32, 8)


@pytest.mark.parametrize("text", ["", "[]", "16,,8", "16,-4", "-4", "a,b", "0,4", "16.5,8", "16,8;4"])
def test_parse_arch_rejects_bad_text(text):
    with pytest.raises(ValueError, match="bad architecture") as info:
        parse_arch(text)
    assert repr(text) in str(info.value) and "16,8,32,8" in str(info.value)


def test_arch_graph_is_eq3():
    assert arch_graph((16, 8), out_dim=6) == [0, 16, 16, 8, 8, 6]
    assert arch_graph((4,), out_dim=8) == [0, 4, 4, 8]
    assert archspace.graph_roles((16, 8)) == [
        archspace.INPUT,
        archspace.WEIGHT,
        archspace.BIAS,
        archspace.WEIGHT,
        archspace.BIAS,
        archspace.OUTPUT,
    ]


def test_layer_shapes_are_fan_out_by_fan_in():
    assert archspace.layer_shapes((16, 8), 11, 6) == [(16, 11), (8, 16), (6, 8)]


def test_sample_archs_uniform_is_distinct_and_seeded():
    archs = all_archs()
    first = sample_archs(np.random.default_rng(3), 8, archs)
    assert first == sample_archs(np.random.default_rng(3), 8, archs)
    assert len(set(first)) == 8 and all(a in archs for a in first)
    counts = np.bincount([len(a) for a in sample_archs(np.random.default_rng(0), 4000, archs)], minlength=5)
    assert counts[4] / 4000 == pytest.approx(4096 / 4680, abs=0.03)  # uniform: 87.5% have 4 layers


def test_sample_archs_depth_mode_balances_depths():
    archs = all_archs()
    depths = [len(a) for a in sample_archs(np.random.default_rng(0), 4000, archs, mode="depth")]
    counts = np.bincount(depths, minlength=5)[1:]
    assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)
    with pytest.raises(ValueError, match="'uniform' or 'depth'"):
        sample_archs(np.random.default_rng(0), 2, archs, mode="bogus")


def test_select_under_budget_small_space():
    # in_dim 2, out_dim 1: counts and D_LM by hand
    archs = [(4,), (8,), (2, 2), (4, 4), (2, 8)]
    # params: (4,)=17, (8,)=33, (2,2)=15, (4,4)=37, (2,8)=39
    # D_LM:   (4,)=17, (8,)=33, (2,2)=11, (4,4)=21, (2,8)=11
    assert [num_params(a, 2, 1) for a in archs] == [17, 33, 15, 37, 39]
    assert [d_lm(a, 2, 1) for a in archs] == [17, 33, 11, 21, 11]
    assert select_under_budget(archs, 40, 2, 1, rule="d_lm") == (8,)
    assert select_under_budget(archs, 40, 2, 1, rule="size") == (2, 8)
    assert select_under_budget(archs, 38, 2, 1, rule="size") == (4, 4)
    assert select_under_budget(archs, 16, 2, 1) == (2, 2)
    # tie on D_LM (11 vs 11): fewer parameters wins
    assert select_under_budget([(2, 8), (2, 2)], 100, 2, 1) == (2, 2)
    with pytest.raises(ValueError, match="smallest has 15"):
        select_under_budget(archs, 14, 2, 1)
    with pytest.raises(ValueError, match="'d_lm' or 'size'"):
        select_under_budget(archs, 100, 2, 1, rule="biggest")


def test_ties_do_not_depend_on_the_order_of_the_list():
    # the Hopper tie (11 obs, 3 actions): the same parameter count, 114,883
    tied = [(512, 128, 64, 512), (512, 64, 128, 512)]
    assert num_params(tied[0], 11, 3) == num_params(tied[1], 11, 3) == 114_883
    for archs in (tied, tied[::-1]):
        # max size: the earlier one in the space's order (fewer layers first, then lexicographic)
        assert select_under_budget(archs, 200_000, 11, 3, rule="size") == (512, 64, 128, 512)
    rows = [
        {"arch": (8, 8), "params": 100, "d_lm": 50},
        {"arch": (4, 4, 4), "params": 100, "d_lm": 50},
        {"arch": (16,), "params": 120, "d_lm": 50},
    ]
    for order in (rows, rows[::-1], rows[1:] + rows[:1]):
        assert pick(order, "d_lm")["arch"] == (8, 8)  # D_LM tie: fewer params, then fewer layers
        assert pick(order, "size")["arch"] == (16,)


def test_bytes_of_a_deployed_policy_by_hand():
    # Hopper, 11 inputs -> [4, 4] -> 3 actions: weights 44 + 16 + 12 = 72, biases (= output rows) 4 + 4 + 3 = 11
    assert num_params((4, 4), 11, 3) == 83
    assert flash_bytes((4, 4), 11, 3) == 4 * 83
    # int8 weights, a float32 scale and bias per row (11 rows), a float32 scale per input (11 inputs)
    assert flash_bytes((4, 4), 11, 3, int8=True) == 72 + 8 * 11 + 4 * 11
    # activation buffers: widths 11, 4, 4, 3; one float buffer holds 11 and 4 (the input, layer 2's output), the other 4 and 3
    assert ram_bytes((4, 4), 11, 3) == 4 * (11 + 4)
    # [512, 4]: widths 11, 512, 4, 3; buffers of 11 and 512 floats; the int8 input buffer as wide as 512
    assert ram_bytes((512, 4), 11, 3) == 4 * (11 + 512)
    assert ram_bytes((512, 4), 11, 3, int8=True) == 4 * (11 + 512) + 2 * 512  # an int16 buffer of the widest input


def test_select_under_a_byte_budget():
    # in_dim 2, out_dim 1 (the small space above): float32 bytes 68, 132, 60, 148, 156;
    # int8 bytes, weights + 8 per row + 4 per input (2): (4,) 12 + 40 + 8 = 60, (8,) 24 + 72 + 8 = 104,
    # (2,2) 10 + 40 + 8 = 58, (4,4) 28 + 72 + 8 = 108, (2,8) 28 + 88 + 8 = 124
    archs = [(4,), (8,), (2, 2), (4, 4), (2, 8)]
    assert [flash_bytes(a, 2, 1, int8=True) for a in archs] == [60, 104, 58, 108, 124]
    assert select_under_budget(archs, 140, 2, 1, cost=flash_bytes, unit="bytes") == (8,)
    assert select_under_budget(archs, 131, 2, 1, cost=flash_bytes, unit="bytes") == (4,)

    def int8_bytes(arch, in_dim, out_dim):
        return flash_bytes(arch, in_dim, out_dim, int8=True)

    assert select_under_budget(archs, 104, 2, 1, cost=int8_bytes, unit="bytes") == (8,)
    with pytest.raises(ValueError, match="budget of 57 bytes: the smallest has 58"):
        select_under_budget(archs, 57, 2, 1, cost=int8_bytes, unit="bytes")
