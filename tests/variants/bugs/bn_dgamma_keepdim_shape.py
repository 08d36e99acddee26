"""Reductions done with ``keepdim=True`` throughout, so dgamma and dbeta come back with
shape (1, C, 1, 1) instead of (C,). The numbers are right; the shapes are not.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "dgamma and dbeta must have shape (C,)"
ORACLE = "bn_backward_dgamma_dbeta"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError("mode must be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    zeros = torch.zeros(C, dtype=x.dtype, device=x.device)
    running_mean = bn_param.get("running_mean", zeros)
    running_var = bn_param.get("running_var", zeros)
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean.view(C)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var.view(C)
    else:
        mean, var = running_mean.view(1, C, 1, 1), running_var.view(1, C, 1, 1)
    std = torch.sqrt(var + eps)
    x_hat = (x - mean) / std
    out = gamma.view(1, C, 1, 1) * x_hat + beta.view(1, C, 1, 1)
    return out, (x_hat, gamma.view(1, C, 1, 1), std)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    dims = (0, 2, 3)
    dbeta = dout.sum(dim=dims, keepdim=True)
    dgamma = (dout * x_hat).sum(dim=dims, keepdim=True)
    g = dout * gamma
    dx = (g - g.mean(dim=dims, keepdim=True)
          - x_hat * (g * x_hat).mean(dim=dims, keepdim=True)) / std
    return dx, dgamma, dbeta
'''
