"""Eq. 4 inside both scripts' actor losses: the minibatch is cut into meta-batch chunks and chunk i trains arch i."""

import pytest
import torch

import ghp_ddpg_her
import ghp_sac
from ghn import GHN, mlp_forward

META_BATCH, CHUNK, IN_DIM, ACT_DIM = 3, 4, 5, 2
ARCHS = [(8,), (16, 4), (4, 4, 4)]


class Critic(torch.nn.Module):
    """A small nonlinear Q(x, a), float64."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(IN_DIM + ACT_DIM, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()

    def forward(self, x, a):
        return self.net(torch.cat([x, a], 1))


def actor_loss(script, critics, policies, inputs):
    """The script's own Eq. 4 loss (SAC: the same sampling noise in every call)."""
    if script is ghp_sac:
        torch.manual_seed(0)
        scale, bias = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 0.5], dtype=torch.float64)
        return ghp_sac.eq4_actor_loss(*critics, policies, inputs, META_BATCH, 0.2, scale, bias)[0]
    return ghp_ddpg_her.eq4_actor_loss(critics[0], policies, inputs, META_BATCH, action_l2=1.0)


@pytest.mark.parametrize("script", [ghp_sac, ghp_ddpg_her])
def test_chunk_i_of_the_minibatch_trains_arch_i_and_no_other(script):
    """The actor loss's gradient with respect to arch i's generated weights and biases comes from the rows of chunk i
    alone: new rows in chunk j change arch j's gradient and leave every other arch's bit for bit (each row's
    gradient is computed from that row only), and every arch gets a gradient. A split that mixed chunks, or ran chunk
    i through another arch's policy, fails."""
    torch.manual_seed(1)
    ghn = GHN(IN_DIM, 2 * ACT_DIM if script is ghp_sac else ACT_DIM, max_width=16, decoder="lowrank", rank=4).double()
    with torch.no_grad():
        params = [[(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in layers] for layers in ghn(ARCHS)]
    leaves = [[tensor for layer in layers for tensor in layer] for layers in params]

    def policies(inputs):  # inputs (META_BATCH, CHUNK, IN_DIM): chunk b through arch b's generated MLP, as ghn.policies
        assert inputs.shape == (META_BATCH, CHUNK, IN_DIM)
        return torch.stack([mlp_forward(layers, chunk) for layers, chunk in zip(params, inputs)])

    critics = [Critic(), Critic()]
    inputs = torch.randn(META_BATCH * CHUNK, IN_DIM, dtype=torch.float64)
    loss = actor_loss(script, critics, policies, inputs)
    gradients = [torch.autograd.grad(loss, leaves[i], retain_graph=True) for i in range(META_BATCH)]
    assert all(max(g.abs().max() for g in gradients[i]) > 0 for i in range(META_BATCH))
    for j in range(META_BATCH):
        changed = inputs.clone()
        changed[j * CHUNK : (j + 1) * CHUNK] = torch.randn(CHUNK, IN_DIM, dtype=torch.float64)
        new_loss = actor_loss(script, critics, policies, changed)
        for i in range(META_BATCH):
            new = torch.autograd.grad(new_loss, leaves[i], retain_graph=True)
            unchanged = all(torch.equal(a, b) for a, b in zip(gradients[i], new))
            assert unchanged == (i != j), (i, j)
