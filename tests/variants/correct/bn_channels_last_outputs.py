"""Returns ``out`` and ``dx`` in channels-last memory format
(``.contiguous(memory_format=torch.channels_last)``), as someone tuning for a GPU might.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(N * H * W, C),
                                   gamma, beta, bn_param)
    out = out.view(N, H, W, C).permute(0, 3, 1, 2)
    return out.contiguous(memory_format=torch.channels_last), (cache, N, C, H, W)


def spatial_batchnorm_backward(dout, cache):
    inner, N, C, H, W = cache
    dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(N * H * W, C), inner)
    dx = dx.view(N, H, W, C).permute(0, 3, 1, 2)
    return dx.contiguous(memory_format=torch.channels_last), dgamma, dbeta
'''
