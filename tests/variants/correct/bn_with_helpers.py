"""Split into small helper functions (mode check, statistics, running update, broadcast),
with the vanilla functions written for any rank and the spatial ones calling them.
"""

TARGET = "batchnorm.py"
CODE = '''
def _check_mode(bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"unknown batch-norm mode {mode!r}")
    return mode


def _reduce_dims(x):
    return tuple(d for d in range(x.dim()) if d != 1)


def _per_channel(t, x):
    return t.reshape((1, -1) + (1,) * (x.dim() - 2))


def _batch_statistics(x):
    dims = _reduce_dims(x)
    mean = x.mean(dim=dims)
    var = (x - _per_channel(mean, x)).pow(2).mean(dim=dims)
    return mean, var


def _update_running(bn_param, key, stat, momentum):
    old = bn_param.get(key)
    if old is None:
        old = torch.zeros_like(stat)
    bn_param[key] = momentum * old + (1 - momentum) * stat


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = _check_mode(bn_param)
    eps = bn_param.get("eps", 1e-5)
    if mode == "train":
        mean, var = _batch_statistics(x)
        momentum = bn_param.get("momentum", 0.9)
        _update_running(bn_param, "running_mean", mean, momentum)
        _update_running(bn_param, "running_var", var, momentum)
    else:
        zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    std = torch.sqrt(var + eps)
    x_hat = (x - _per_channel(mean, x)) / _per_channel(std, x)
    out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
    return out, (x_hat, std, gamma)


def batchnorm_backward(dout, cache):
    x_hat, std, gamma = cache
    dims = _reduce_dims(dout)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * x_hat).sum(dim=dims)
    dx_hat = dout * _per_channel(gamma, dout)
    mean_dx_hat = dx_hat.mean(dim=dims, keepdim=True)
    mean_proj = (dx_hat * x_hat).mean(dim=dims, keepdim=True)
    dx = (dx_hat - mean_dx_hat - x_hat * mean_proj) / _per_channel(std, dout)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return batchnorm_forward(x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    return batchnorm_backward(dout, cache)
'''
