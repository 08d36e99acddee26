"""Reduces over dims (0, 2, 3) directly on the 4-D tensor, without the vanilla function,
and keeps its cache in a dict. Backward uses the compact closed form.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', not {mode!r}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    axes = (0, 2, 3)
    if "running_mean" not in bn_param:
        bn_param["running_mean"] = torch.zeros(C, dtype=x.dtype, device=x.device)
    if "running_var" not in bn_param:
        bn_param["running_var"] = torch.zeros(C, dtype=x.dtype, device=x.device)

    if mode == "train":
        mean = x.mean(dim=axes)
        var = x.var(dim=axes, unbiased=False)
        bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mean
        bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]

    inv_std = (var + eps).rsqrt()[None, :, None, None]
    x_hat = (x - mean[None, :, None, None]) * inv_std
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    cache = {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std, "axes": axes}
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    x_hat, inv_std, axes = cache["x_hat"], cache["inv_std"], cache["axes"]
    gamma = cache["gamma"][None, :, None, None]
    m = x_hat.numel() // x_hat.shape[1]
    dbeta = dout.sum(dim=axes)
    dgamma = (dout * x_hat).sum(dim=axes)
    dx = gamma * inv_std / m * (m * dout - dbeta[None, :, None, None]
                                - x_hat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta
'''
