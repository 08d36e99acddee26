"""Saves memory with in-place operations, but only on tensors it created itself (a clone of x,
the freshly computed statistics), never on x, gamma, beta or dout.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = rm * momentum + mean * (1 - momentum)
        bn_param["running_var"] = rv * momentum + var * (1 - momentum)
    else:
        zeros = x.new_zeros(x.shape[1])
        mean = bn_param.get("running_mean", zeros)
        var = bn_param.get("running_var", zeros)
    std = var.add(eps).sqrt_()
    xhat = x.clone()
    xhat.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    out = xhat.clone()
    out.mul_(gamma.view(1, -1, 1, 1)).add_(beta.view(1, -1, 1, 1))
    return out, {"xhat": xhat, "std": std, "gamma": gamma}


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache["xhat"], cache["std"], cache["gamma"]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xhat).sum(dim=(0, 2, 3))
    dxhat = dout * gamma.view(1, -1, 1, 1)
    dx = dxhat.clone()
    dx.sub_(dxhat.mean(dim=(0, 2, 3), keepdim=True))
    dx.sub_(xhat * (dxhat * xhat).mean(dim=(0, 2, 3), keepdim=True))
    dx.div_(std.view(1, -1, 1, 1))
    return dx, dgamma, dbeta
'''
