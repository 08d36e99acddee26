"""Sums dout over the batch axis only for dbeta, as in the vanilla backward, and returns a
(C, H, W) array instead of (C,).
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "dgamma and dbeta have shape (C,) and match autograd"
ORACLE = "bn_backward_dgamma_dbeta"
CODE = '''
_reference_backward = spatial_batchnorm_backward


def spatial_batchnorm_backward(dout, cache):
    dx, dgamma, _ = _reference_backward(dout, cache)
    dbeta = dout.sum(dim=0)
    return dx, dgamma, dbeta
'''
