"""The cache is an object: ``SpatialBNCache`` (a subclass whose ``__init__`` calls
``super().__init__()``) stores the intermediates and has its own ``backward(dout)`` method;
``spatial_batchnorm_backward`` just returns ``cache.backward(dout)``.
"""

TARGET = "batchnorm.py"
CODE = '''
class _CacheBase:
    def __init__(self, mode):
        self.mode = mode


class SpatialBNCache(_CacheBase):
    """Everything the backward pass needs, and the backward pass itself (no autograd)."""

    def __init__(self, x_hat, gamma, inv_std, mode):
        super().__init__(mode)
        self.x_hat = x_hat
        self.gamma = gamma
        self.inv_std = inv_std

    def backward(self, dout):
        shape = (1, -1, 1, 1)
        dims = (0, 2, 3)
        dbeta = dout.sum(dim=dims)
        dgamma = (dout * self.x_hat).sum(dim=dims)
        dx_hat = dout * self.gamma.view(shape)
        if self.mode == "test":
            return dx_hat * self.inv_std.view(shape), dgamma, dbeta
        dx = self.inv_std.view(shape) * (
            dx_hat - dx_hat.mean(dim=dims, keepdim=True)
            - self.x_hat * (dx_hat * self.x_hat).mean(dim=dims, keepdim=True))
        return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("mode must be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    running_mean = bn_param.get("running_mean", x.new_zeros(C))
    running_var = bn_param.get("running_var", x.new_zeros(C))
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), correction=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = (var + eps).rsqrt()
    x_hat = (x - mean.view(1, C, 1, 1)) * inv_std.view(1, C, 1, 1)
    out = gamma.view(1, C, 1, 1) * x_hat + beta.view(1, C, 1, 1)
    return out, SpatialBNCache(x_hat, gamma, inv_std, mode)


def spatial_batchnorm_backward(dout, cache):
    if not isinstance(cache, SpatialBNCache):
        raise TypeError("cache must come from spatial_batchnorm_forward "
                        "(this backward is written by hand, without autograd)")
    return cache.backward(dout)
'''
