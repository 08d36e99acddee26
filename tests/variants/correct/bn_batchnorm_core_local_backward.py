"""Factors the shared arithmetic into a helper ``batchnorm_core`` used by both modes of the
vanilla forward; the spatial backward binds ``backward = batchnorm_backward`` and calls it,
keeping the result in a local called ``grad``.
"""

TARGET = "batchnorm.py"
CODE = '''
def batchnorm_core(x, gamma, beta, mean, var, eps):
    """Normalize x (N, D) with the given statistics and apply the affine map."""
    inv_std = 1.0 / torch.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, x_hat, inv_std


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode != "train" and mode != "test":
        raise ValueError("Invalid forward batchnorm mode: %s" % mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    rm = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    rv = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))
    if mode == "train":
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
        out, x_hat, inv_std = batchnorm_core(x, gamma, beta, mean, var, eps)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        out, x_hat, inv_std = batchnorm_core(x, gamma, beta, rm, rv, eps)
    return out, (x_hat, gamma, inv_std, mode)


def batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, mode = cache
    N = dout.shape[0]
    dbeta = dout.sum(0)
    dgamma = (dout * x_hat).sum(0)
    if mode == "test":
        return dout * gamma * inv_std, dgamma, dbeta
    dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    inner, shape = cache
    N, C, H, W = shape
    backward = batchnorm_backward
    grad = backward(dout.permute(0, 2, 3, 1).reshape(-1, C), inner)
    dx_flat, dgamma, dbeta = grad
    return dx_flat.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
