"""Centers the input with ``x -= mean`` to save memory, which changes the caller's x.

The output is still right (x_hat is computed from the centered x), so only a check of the
inputs after the call notices.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "x compared with a copy taken before the call"
ORACLE = "bn_inputs_unmodified"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError("mode must be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    shape = (1, C, 1, 1)
    running_mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = 1.0 / torch.sqrt(var + eps)
    x -= mean.view(shape)
    x *= inv_std.view(shape)
    out = x * gamma.view(shape) + beta.view(shape)
    return out, (x.clone(), gamma, inv_std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    shape = (1, -1, 1, 1)
    m = dout.numel() // dout.shape[1]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    dx = (gamma * inv_std).view(shape) / m * (
        m * dout - dbeta.view(shape) - x_hat * dgamma.view(shape))
    return dx, dgamma, dbeta
'''
