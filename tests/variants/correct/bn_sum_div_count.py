"""Computes the mean as ``sum / M`` with ``M = N * H * W`` a Python int kept in the cache,
and the gradient in the long 'staged' form from the computational graph.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    M = N * H * W
    g = gamma.reshape(1, C, 1, 1)
    b = beta.reshape(1, C, 1, 1)
    if mode == "train":
        mu = x.sum(dim=(0, 2, 3), keepdim=True) / M
        xmu = x - mu
        var = (xmu * xmu).sum(dim=(0, 2, 3), keepdim=True) / M
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu.reshape(C)
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var.reshape(C)
        sqrtvar = torch.sqrt(var + eps)
        ivar = 1.0 / sqrtvar
        xhat = xmu * ivar
        return g * xhat + b, (xhat, xmu, ivar, sqrtvar, var, g, eps, M)
    if mode == "test":
        rm = bn_param.get("running_mean", x.new_zeros(C)).reshape(1, C, 1, 1)
        rv = bn_param.get("running_var", x.new_zeros(C)).reshape(1, C, 1, 1)
        xhat = (x - rm) / torch.sqrt(rv + eps)
        return g * xhat + b, None
    raise ValueError("Invalid mode: " + repr(mode))


def spatial_batchnorm_backward(dout, cache):
    xhat, xmu, ivar, sqrtvar, var, g, eps, M = cache
    dims = (0, 2, 3)
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * xhat).sum(dim=dims)
    dxhat = dout * g
    divar = (dxhat * xmu).sum(dim=dims, keepdim=True)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar ** 2) * divar
    dvar = 0.5 * 1.0 / torch.sqrt(var + eps) * dsqrtvar
    dsq = torch.ones_like(dout) / M * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -1 * dx1.sum(dim=dims, keepdim=True)
    dx2 = torch.ones_like(dout) / M * dmu
    return dx1 + dx2, dgamma, dbeta
'''
