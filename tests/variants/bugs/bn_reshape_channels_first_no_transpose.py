"""Wants one row per channel and writes ``x.reshape(C, -1)`` without first moving C to the
front: each 'row' mixes several channels and samples.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forward values against F.batch_norm (channels with different means)"
ORACLE = "bn_forward_values"
FEEDBACK = ("transpose(0, 1)",)
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    rows = x.reshape(C, -1)
    if mode == "train":
        mean, var = rows.mean(1), rows.var(1, unbiased=False)
        zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
        rm, rv = bn_param.get("running_mean", zeros), bn_param.get("running_var", zeros)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    std = torch.sqrt(var + eps)[:, None]
    xhat = (rows - mean[:, None]) / std
    out = (gamma[:, None] * xhat + beta[:, None]).reshape(N, C, H, W)
    return out, (xhat, std, gamma)


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    N, C, H, W = dout.shape
    d = dout.reshape(C, -1)
    dbeta, dgamma = d.sum(1), (d * xhat).sum(1)
    g = d * gamma[:, None]
    dx = (g - g.mean(1, keepdim=True) - xhat * (g * xhat).mean(1, keepdim=True)) / std
    return dx.reshape(N, C, H, W), dgamma, dbeta
'''
