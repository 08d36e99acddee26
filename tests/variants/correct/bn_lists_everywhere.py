"""A student who returns lists where the handout shows tuples: the forward returns
``[out, cache]``, the backward ``[dx, dgamma, dbeta]``, and the cache itself is a list.
Python unpacks both the same way, so nothing in the handout forbids it.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    shape = [1, C, 1, 1]
    running_mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    if mode == "train":
        mean = x.mean(dim=[0, 2, 3])
        var = ((x - mean.reshape(shape)) ** 2).mean(dim=[0, 2, 3])
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f"unknown mode {mode!r}")
    std = torch.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) / std.reshape(shape)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return [out, [xhat, std, gamma]]


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    C = dout.shape[1]
    shape = [1, C, 1, 1]
    m = dout.numel() // C
    dbeta = dout.sum(dim=[0, 2, 3])
    dgamma = (dout * xhat).sum(dim=[0, 2, 3])
    dxhat = dout * gamma.reshape(shape)
    dx = (m * dxhat - dxhat.sum(dim=[0, 2, 3], keepdim=True)
          - xhat * (dxhat * xhat).sum(dim=[0, 2, 3], keepdim=True)) / (m * std.reshape(shape))
    return [dx, dgamma, dbeta]
'''
