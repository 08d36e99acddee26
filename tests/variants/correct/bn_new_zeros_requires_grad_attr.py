"""Reads the ``requires_grad`` attribute (``x.detach() if x.requires_grad else x``), creates
missing running statistics with ``x.new_zeros(C, requires_grad=False)`` and works inside
``with torch.set_grad_enabled(False):``; the cache is a plain tuple.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"mode {mode!r} is neither 'train' nor 'test'")
    x = x.detach() if x.requires_grad else x
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    with torch.set_grad_enabled(False):
        running_mean = bn_param.get("running_mean", x.new_zeros(C, requires_grad=False))
        running_var = bn_param.get("running_var", x.new_zeros(C, requires_grad=False))
        if mode == "train":
            mean = x.mean(dim=(0, 2, 3))
            var = (x - mean[:, None, None]).square().mean(dim=(0, 2, 3))
            bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
            bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        else:
            mean, var = running_mean, running_var
        inv_std = (var + eps).rsqrt()
        x_hat = (x - mean[:, None, None]) * inv_std[:, None, None]
        out = gamma[:, None, None] * x_hat + beta[:, None, None]
    return out, (x_hat, gamma, inv_std, mode)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, mode = cache
    dims = (0, 2, 3)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * x_hat).sum(dim=dims)
    k = (gamma * inv_std)[:, None, None]
    if mode == "test":
        return k * dout, dgamma, dbeta
    dx = k * (dout - dout.mean(dim=dims, keepdim=True)
              - x_hat * (dout * x_hat).mean(dim=dims, keepdim=True))
    return dx, dgamma, dbeta
'''
