"""Type-hinted with ``from torch import Tensor`` and ``typing`` (``Any``, ``Dict``, ``Tuple``),
shape checks as ``assert`` statements, the biased variance as
``torch.var(x, dim=0, unbiased=False)`` in a vanilla (N, D) batch norm that the spatial
functions reuse through permute/reshape.
"""

TARGET = "batchnorm.py"
CODE = '''
from typing import Any, Dict, Tuple

from torch import Tensor


def batchnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor,
                      bn_param: Dict[str, Any]) -> Tuple[Tensor, Tuple[Any, ...]]:
    assert x.dim() == 2, "x must be (N, D)"
    N, D = x.shape
    assert gamma.shape == (D,) and beta.shape == (D,), "gamma and beta must be (D,)"
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', not {mode!r}")
    eps: float = bn_param.get("eps", 1e-5)
    momentum: float = bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))
    if mode == "train":
        mu = torch.mean(x, dim=0)
        var = torch.var(x, dim=0, unbiased=False)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
    std = torch.sqrt(var + eps)
    x_hat = (x - mu) / std
    out = gamma * x_hat + beta
    assert out.shape == x.shape
    return out, (x_hat, gamma, std, mode == "train")


def batchnorm_backward(dout: Tensor, cache: Tuple[Any, ...]) -> Tuple[Tensor, Tensor, Tensor]:
    x_hat, gamma, std, train = cache
    assert dout.shape == x_hat.shape
    N = dout.shape[0]
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx_hat = dout * gamma
    if not train:
        return dx_hat / std, dgamma, dbeta
    dx = (N * dx_hat - dx_hat.sum(dim=0) - x_hat * (dx_hat * x_hat).sum(dim=0)) / (N * std)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor,
                              bn_param: Dict[str, Any]) -> Tuple[Tensor, Tuple[Any, ...]]:
    assert x.dim() == 4, "x must be (N, C, H, W)"
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), (cache, N, C, H, W)


def spatial_batchnorm_backward(dout: Tensor, cache: Tuple[Any, ...]
                               ) -> Tuple[Tensor, Tensor, Tensor]:
    inner, N, C, H, W = cache
    assert dout.shape == (N, C, H, W)
    dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(-1, C), inner)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
