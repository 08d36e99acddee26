"""Accumulates dbeta image by image in a loop, but starts the accumulator at the first
image's sum instead of zeros, so image 0 counts twice; dx and dgamma are right.
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
    dbeta = dout[0].sum(dim=(1, 2))
    for n in range(dout.shape[0]):
        dbeta = dbeta + dout[n].sum(dim=(1, 2))
    return dx, dgamma, dbeta
'''
