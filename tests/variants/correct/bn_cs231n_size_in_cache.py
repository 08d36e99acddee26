"""The CS231n hint as most students write it: permute, reshape to (N*H*W, C), call the vanilla
batch norm, and keep ``x.shape`` (a ``torch.Size``) in the cache to undo the reshape later.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    shape = x.shape
    N, C, H, W = shape
    x_flat = x.permute(0, 2, 3, 1).reshape(-1, C)
    out_flat, bn_cache = batchnorm_forward(x_flat, gamma, beta, bn_param)
    out = out_flat.reshape(N, H, W, C).permute(0, 3, 1, 2)
    cache = (bn_cache, shape)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    bn_cache, shape = cache
    N, C, H, W = shape
    dout_flat = dout.permute(0, 2, 3, 1).reshape(-1, C)
    dx_flat, dgamma, dbeta = batchnorm_backward(dout_flat, bn_cache)
    dx = dx_flat.reshape(N, H, W, C).permute(0, 3, 1, 2)
    return dx, dgamma, dbeta
'''
