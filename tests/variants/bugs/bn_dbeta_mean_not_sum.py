"""Averages dout over the N*H*W values of each channel for dbeta instead of summing them (the
1/(N*H*W) of the mean's gradient carried over to the wrong term); dx and dgamma are right.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "dbeta values against autograd (its shape (C,) is right)"
ORACLE = "bn_backward_dgamma_dbeta"
FEEDBACK = ("dbeta for x of shape",)
CODE = '''
_reference_backward = spatial_batchnorm_backward


def spatial_batchnorm_backward(dout, cache):
    dx, dgamma, _ = _reference_backward(dout, cache)
    dbeta = dout.mean(dim=(0, 2, 3))
    return dx, dgamma, dbeta
'''
