"""Puts the ``bn_param`` dict itself into the cache (as CS231n's starter code sometimes does),
next to Python floats and the sizes, and reads eps back from it in the backward.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode != "train" and mode != "test":
        raise ValueError("Invalid forward batchnorm mode %s" % mode)
    eps = bn_param.setdefault("eps", 1e-5)
    momentum = bn_param.setdefault("momentum", 0.9)
    N, C, H, W = x.shape
    x2 = x.transpose(0, 1).reshape(C, -1)
    if mode == "train":
        mu = x2.mean(1)
        var = x2.var(1, unbiased=False)
        rm = bn_param.get("running_mean", torch.zeros_like(mu))
        rv = bn_param.get("running_var", torch.zeros_like(var))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        zeros = x.new_zeros(x.shape[1])
        mu = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    xhat = (x2 - mu[:, None]) / torch.sqrt(var[:, None] + eps)
    out = gamma[:, None] * xhat + beta[:, None]
    out = out.reshape(C, N, H, W).transpose(0, 1)
    cache = (xhat, var, gamma, bn_param, float(N * H * W), (N, C, H, W))
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    xhat, var, gamma, bn_param, m, (N, C, H, W) = cache
    d = dout.transpose(0, 1).reshape(C, -1)
    dbeta = d.sum(1)
    dgamma = (d * xhat).sum(1)
    dxhat = d * gamma[:, None]
    istd = 1 / torch.sqrt(var[:, None] + bn_param["eps"])
    dx = istd / m * (m * dxhat - dxhat.sum(1, keepdim=True)
                     - xhat * (dxhat * xhat).sum(1, keepdim=True))
    return dx.reshape(C, N, H, W).transpose(0, 1), dgamma, dbeta
'''
