"""The hint followed literally: a CS231n-style vanilla batch norm for (N, D), and the spatial
version moves channels last, flattens to (N*H*W, C), calls it, and undoes the move.

The vanilla backward is the step-by-step chain rule through the computational graph, with a
cache of intermediate results (unlike the reference's compact cache).
"""

TARGET = "batchnorm.py"
CODE = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))

    if mode == "train":
        mu = x.sum(dim=0) / N
        xmu = x - mu
        sq = xmu ** 2
        var = sq.sum(dim=0) / N
        sqrtvar = torch.sqrt(var + eps)
        ivar = 1.0 / sqrtvar
        xhat = xmu * ivar
        out = gamma * xhat + beta
        cache = (xhat, gamma, xmu, ivar, sqrtvar, var, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        xhat = (x - running_mean) / torch.sqrt(running_var + eps)
        out = gamma * xhat + beta
        cache = None
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(dim=0)
    dgamma = (dout * xhat).sum(dim=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(dim=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -divar / sqrtvar ** 2
    dvar = 0.5 * dsqrtvar / torch.sqrt(var + eps)
    dsq = torch.ones_like(dout) * dvar / N
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -(dx1.sum(dim=0))
    dx2 = torch.ones_like(dout) * dmu / N
    return dx1 + dx2, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous(), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    flat = dout.permute(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(flat, cache)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous(), dgamma, dbeta
'''
