"""Functional style: the forward returns, as its cache, a closure that computes the gradients;
the backward just calls it.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, inner = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]),
                                   gamma, beta, bn_param)
    N, C, H, W = x.shape

    def backward(dout):
        dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(-1, C), inner)
        return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta

    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), backward


def spatial_batchnorm_backward(dout, cache):
    return cache(dout)
'''
