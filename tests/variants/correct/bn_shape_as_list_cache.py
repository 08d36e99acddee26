"""Stores ``list(x.shape)`` and the eps and momentum it used (Python floats) in a plain list
cache, and uses ``torch.mean``/``torch.sum`` with ``keepdim=True`` on the 4-D tensors.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    if mode == "train":
        mu = torch.mean(x, dim=[0, 2, 3], keepdim=True)
        var = torch.mean((x - mu) ** 2, dim=[0, 2, 3], keepdim=True)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu.flatten()
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var.flatten()
    elif mode == "test":
        mu = bn_param.get("running_mean", x.new_zeros(x.shape[1])).reshape(1, C, 1, 1)
        var = bn_param.get("running_var", x.new_zeros(x.shape[1])).reshape(1, C, 1, 1)
    else:
        raise ValueError("Invalid mode")
    xhat = (x - mu) / torch.sqrt(var + eps)
    out = gamma.reshape(1, C, 1, 1) * xhat + beta.reshape(1, C, 1, 1)
    return out, [xhat, var, gamma, list(x.shape), float(eps), float(momentum)]


def spatial_batchnorm_backward(dout, cache):
    xhat, var, gamma, shape, eps, _ = cache
    N, C, H, W = shape
    m = N * H * W
    dbeta = torch.sum(dout, dim=[0, 2, 3])
    dgamma = torch.sum(dout * xhat, dim=[0, 2, 3])
    dxhat = dout * gamma.reshape(1, C, 1, 1)
    dx = (1.0 / m) / torch.sqrt(var + eps) * (
        m * dxhat - torch.sum(dxhat, dim=[0, 2, 3], keepdim=True)
        - xhat * torch.sum(dxhat * xhat, dim=[0, 2, 3], keepdim=True))
    return dx, dgamma, dbeta
'''
