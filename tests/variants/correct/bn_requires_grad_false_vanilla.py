"""A vanilla (N, D) batch norm whose default running statistics are
``torch.zeros(D, ..., requires_grad=False)`` (the student spells the keyword out), reused by the
spatial functions through permute/reshape; the locals are called ``norm`` and
``batch_norm_out``, and the docstring says it matches ``torch.nn.functional.batch_norm``.
"""

TARGET = "batchnorm.py"
CODE = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    """Same numbers as torch.nn.functional.batch_norm would give, written out by hand."""
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("Invalid forward batchnorm mode %r" % (mode,))
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get(
        "running_mean", torch.zeros(D, dtype=x.dtype, device=x.device, requires_grad=False))
    running_var = bn_param.get(
        "running_var", torch.zeros(D, dtype=x.dtype, device=x.device, requires_grad=False))
    if mode == "train":
        mean = x.mean(dim=0)
        var = ((x - mean) ** 2).mean(dim=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    std = torch.sqrt(var + eps)
    norm = (x - mean) / std
    batch_norm_out = gamma * norm + beta
    return batch_norm_out, {"norm": norm, "gamma": gamma, "std": std, "mode": mode}


def batchnorm_backward(dout, cache):
    norm, gamma, std = cache["norm"], cache["gamma"], cache["std"]
    dbeta = dout.sum(dim=0)
    dgamma = (dout * norm).sum(dim=0)
    if cache["mode"] == "test":
        return dout * gamma / std, dgamma, dbeta
    dx = gamma / std * (dout - dout.mean(dim=0) - norm * (dout * norm).mean(dim=0))
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(N * H * W, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), (cache, (N, C, H, W))


def spatial_batchnorm_backward(dout, cache):
    inner, (N, C, H, W) = cache
    dflat = dout.permute(0, 2, 3, 1).reshape(N * H * W, C)
    dx, dgamma, dbeta = batchnorm_backward(dflat, inner)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
