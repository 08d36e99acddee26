"""Helpers for checking gradients by hand (provided; nothing to implement here)."""

from collections.abc import Callable

import torch


def rel_error(x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest relative error between x and y, guarded against division by zero."""
    x, y = x.double(), y.double()
    return ((x - y).abs() / (x.abs() + y.abs()).clamp_min(1e-8)).max().item()


def eval_numerical_gradient_array(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                                  df: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Central-difference estimate of the gradient of sum(f(x) * df) with respect to x.

    f is called with x perturbed one element at a time (x is restored afterwards), so use
    float64 tensors: in float32 the rounding error of f swamps a step as small as h.
    The default h = 1e-5 (as in CS231n) balances the two errors of a central difference:
    a larger step makes the truncation error (about h**2) grow, a smaller one makes the
    rounding error of f (about 1e-16 / h) grow. With h = 1e-6 a perfect backward already
    shows relative errors near 1e-7.

    Inputs:
    - f: function of one tensor returning a tensor shaped like df.
    - x: the point at which to differentiate; any shape.
    - df: upstream gradient, the shape of f(x).
    - h: step size.

    Returns:
    - grad: tensor shaped like x.
    """
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        pos = f(x).clone()
        flat_x[i] = old - h
        neg = f(x).clone()
        flat_x[i] = old
        flat_grad[i] = ((pos - neg) * df).sum() / (2 * h)
    return grad
