"""The judge's reference values: the closed-form batch-norm gradients agree with torch's
float64 autograd on random inputs (shapes, scales, eps), well inside ``close``'s float64
tolerance, so the verdicts that rest on them do not move."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.grading import hidden_tests as ht


def _autograd_grads(x, gamma, beta, dout, eps):
    x = x.double().clone().requires_grad_()
    gamma = gamma.double().clone().requires_grad_()
    beta = beta.double().clone().requires_grad_()
    out = ht.ref_bn_train(x, gamma, beta, eps)
    return torch.autograd.grad(out, (x, gamma, beta), dout.double())


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5),
       scale=st.sampled_from([1e-3, 0.1, 1.0, 30.0]), eps=st.sampled_from([1e-5, 1e-3, 5.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**31))
def test_closed_form_gradients_match_autograd(n, c, h, w, scale, eps, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, h, w, generator=gen, dtype=torch.float64) * scale).to(dtype)
    gamma = torch.randn(c, generator=gen, dtype=torch.float64).to(dtype)
    beta = torch.randn(c, generator=gen, dtype=torch.float64).to(dtype)
    dout = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64)
    got = ht.ref_bn_grads(x, gamma, beta, dout, eps)
    want = _autograd_grads(x, gamma, beta, dout, eps)
    rtol, atol = ht.tolerances(torch.float64)
    for name, g, e in zip(("dx", "dgamma", "dbeta"), got, want):
        assert g.dtype == torch.float64 and g.shape == e.shape, name
        # 100x tighter than the float64 tolerance the hidden tests hold students to.
        assert torch.allclose(g, e, rtol=rtol / 100, atol=atol / 100), (
            name, float((g - e).abs().max()))


def test_closed_form_gradients_catch_a_wrong_dx():
    """The comparison above can fail: a dx without the mean term is far off."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    gamma, beta = torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    dout = torch.randn(3, 2, 4, 4, generator=gen, dtype=torch.float64)
    dx, _, _ = ht.ref_bn_grads(x, gamma, beta, dout, 1e-5)
    naive = dout / torch.sqrt(x.var(dim=(0, 2, 3), correction=0) + 1e-5).view(1, -1, 1, 1)
    assert not torch.allclose(dx, naive, rtol=1e-4, atol=1e-5)
