"""Flattens (N, C, H, W) to (N*H*W, C) with a bare ``x.reshape(-1, C)``.

Without moving C last, each 'column' mixes channels and positions, so the statistics
are taken over the wrong values.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forward values against F.batch_norm (channels with different means)"
ORACLE = "bn_forward_values"
FEEDBACK = ("permute(0, 2, 3, 1)",)
CODE = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))

    if mode == "train":
        mu = x.mean(dim=0)
        xc = x - mu
        var = (xc ** 2).mean(dim=0)
        std = torch.sqrt(var + eps)
        x_hat = xc / std
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x_hat, gamma, std)
    elif mode == "test":
        x_hat = (x - running_mean) / torch.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, torch.sqrt(running_var + eps))
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx_hat = dout * gamma
    dx = (dx_hat - dx_hat.mean(dim=0) - x_hat * (dx_hat * x_hat).mean(dim=0)) / std
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    x_flat = x.reshape(-1, C)
    out, cache = batchnorm_forward(x_flat, gamma, beta, bn_param)
    out = out.reshape(N, C, H, W)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dout_flat = dout.reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(dout_flat, cache)
    dx = dx.reshape(N, C, H, W)
    return dx, dgamma, dbeta
'''
