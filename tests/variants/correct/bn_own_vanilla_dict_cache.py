"""Writes its own vanilla (N, D) batch norm with a dict cache (CS231n's second, 'alt' backward)
and the spatial wrapper on top of it, keeping ``x.shape`` in the wrapper's cache dict.
"""

TARGET = "batchnorm.py"
CODE = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))
    cache = {}
    if mode == "train":
        sample_mean = x.mean(axis=0)
        sample_var = x.var(axis=0, unbiased=False)
        x_norm = (x - sample_mean) / torch.sqrt(sample_var + eps)
        out = gamma * x_norm + beta
        cache = {"x_norm": x_norm, "gamma": gamma, "std": torch.sqrt(sample_var + eps)}
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        out = gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    N = dout.shape[0]
    x_norm, gamma, std = cache["x_norm"], cache["gamma"], cache["std"]
    dgamma = (dout * x_norm).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx_norm = dout * gamma
    dx = (N * dx_norm - dx_norm.sum(axis=0) - x_norm * (dx_norm * x_norm).sum(axis=0)) / (N * std)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, bn_cache = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    out = out.reshape(N, H, W, C).permute(0, 3, 1, 2)
    return out, {"bn": bn_cache, "x_shape": x.shape}


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = cache["x_shape"]
    dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(-1, C), cache["bn"])
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
