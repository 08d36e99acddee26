"""Moves channels last with ``x.transpose(1, 3)`` (giving (N, W, H, C), not (N, H, W, C)),
which is fine for per-channel statistics, and uses ``torch.var_mean(..., correction=0)``.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ["train", "test"]:
        raise ValueError("mode")
    eps = bn_param.get("eps", 1e-5)
    m = bn_param.get("momentum", 0.9)
    xt = x.transpose(1, 3)
    if mode == "train":
        var, mean = torch.var_mean(xt, dim=(0, 1, 2), correction=0)
        zeros = torch.zeros_like(mean)
        bn_param["running_mean"] = m * bn_param.get("running_mean", zeros) + (1 - m) * mean
        bn_param["running_var"] = m * bn_param.get("running_var", zeros) + (1 - m) * var
    else:
        zeros = x.new_zeros(x.shape[1])
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    inv = torch.rsqrt(var + eps)
    xhat = (xt - mean) * inv
    return (gamma * xhat + beta).transpose(1, 3), [xhat, inv, gamma]


def spatial_batchnorm_backward(dout, cache):
    xhat, inv, gamma = cache
    d = dout.transpose(1, 3)
    dbeta = d.sum(dim=(0, 1, 2))
    dgamma = (d * xhat).sum(dim=(0, 1, 2))
    g = d * gamma
    dx = inv * (g - g.mean(dim=(0, 1, 2)) - xhat * (g * xhat).mean(dim=(0, 1, 2)))
    return dx.transpose(1, 3), dgamma, dbeta
'''
