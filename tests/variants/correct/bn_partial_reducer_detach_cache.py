"""Defines the per-channel reduction once with ``functools.partial(torch.mean, dim=(0, 2, 3),
keepdim=True)``, stores ``.detach()``-ed tensors in a dict cache, and uses
``torch.var_mean(..., correction=0)``; mode validation comes before anything else.
"""

TARGET = "batchnorm.py"
CODE = '''
import functools

channel_mean = functools.partial(torch.mean, dim=(0, 2, 3), keepdim=True)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    if bn_param.get("mode") not in ("train", "test"):
        raise ValueError("bn_param['mode'] must be 'train' or 'test'")
    train = bn_param["mode"] == "train"
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if train:
        var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0, keepdim=True)
        for key, stat in (("running_mean", mean), ("running_var", var)):
            old = bn_param.get(key, torch.zeros(C, dtype=x.dtype, device=x.device))
            bn_param[key] = momentum * old + (1 - momentum) * stat.flatten()
    else:
        mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        mean, var = mean.reshape(1, C, 1, 1), var.reshape(1, C, 1, 1)
    std = torch.sqrt(var + eps)
    x_hat = (x - mean) / std
    out = gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
    cache = {"x_hat": x_hat.detach(), "gamma": gamma.detach(), "std": std.detach(),
             "train": train}
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    C = dout.shape[1]
    x_hat, std = cache["x_hat"], cache["std"]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    dx_hat = dout * cache["gamma"].reshape(1, C, 1, 1)
    if not cache["train"]:
        return dx_hat / std, dgamma, dbeta
    dx = (dx_hat - channel_mean(dx_hat) - x_hat * channel_mean(dx_hat * x_hat)) / std
    return dx, dgamma, dbeta
'''
