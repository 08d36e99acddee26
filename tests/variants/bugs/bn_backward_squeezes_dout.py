"""In the backward, takes the batch size as ``len(dout.squeeze())``: right for every batch
of two or more images, but for a batch of one squeeze drops N and the length is C, so dx is
scaled wrongly (no error is raised).
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "dx, dgamma, dbeta for a batch of one image"
ORACLE = "bn_batch_size_one"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean.view(C)
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var.view(C)
    else:
        mean = bn_param["running_mean"].view(1, C, 1, 1)
        var = bn_param["running_var"].view(1, C, 1, 1)
    std = torch.sqrt(var + eps)
    xhat = (x - mean) / std
    return gamma.view(1, C, 1, 1) * xhat + beta.view(1, C, 1, 1), (xhat, std, gamma)


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    N = len(dout.squeeze())  # the batch size (squeeze() drops it too when N == 1)
    C, H, W = dout.shape[1:]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xhat).sum(dim=(0, 2, 3))
    g = dout * gamma.view(1, C, 1, 1)
    dx = (N * H * W * g - g.sum(dim=(0, 2, 3), keepdim=True)
          - xhat * (g * xhat).sum(dim=(0, 2, 3), keepdim=True)) / (N * H * W * std)
    return dx, dgamma, dbeta
'''
