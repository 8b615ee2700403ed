"""`straight_through` (BPDA for a whole model, Athalye et al. 2018): the exact model's forward
values, the surrogate's gradient; a BPDA option a defense type has no surrogate for fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from decoybench.attacks.bpda import straight_through
from decoybench.cells.deployment import check_deploy_options


def test_forward_is_exact_and_gradient_is_the_surrogates() -> None:
    torch.manual_seed(0)
    exact = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    surrogate = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    model = straight_through(exact, surrogate)
    x = torch.rand(5, 1, 4, 4, requires_grad=True)
    out = model(x)
    assert torch.equal(out.detach(), exact(x).detach())
    (gradient,) = torch.autograd.grad(out[:, 1].sum(), x)
    x_ref = x.detach().requires_grad_(True)
    (reference,) = torch.autograd.grad(surrogate(x_ref)[:, 1].sum(), x_ref)
    assert torch.equal(gradient, reference)
    (of_exact,) = torch.autograd.grad(exact(x_ref)[:, 1].sum(), x_ref)
    assert not torch.allclose(gradient, of_exact)


def test_a_type_without_a_surrogate_refuses_bpda() -> None:
    with pytest.raises(ValueError, match=r"'undefended'.*gradient: bpda"):
        check_deploy_options("undefended", "adaptive", gradient="bpda", deployed="default")
    with pytest.raises(ValueError, match="adaptive settings"):
        check_deploy_options("undefended", "whitebox", gradient="bpda", deployed="default")
    check_deploy_options("undefended", "adaptive", gradient="exact", deployed="default")
