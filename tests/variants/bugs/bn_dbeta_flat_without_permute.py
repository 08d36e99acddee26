"""Takes dbeta as in the vanilla backward, ``dout.reshape(-1, C).sum(0)``, without moving the
channels last first: the result has shape (C,) but each entry sums values of several
channels; dx and dgamma (computed elsewhere, correctly) are right.
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
    dbeta = dout.reshape(-1, dout.shape[1]).sum(dim=0)
    return dx, dgamma, dbeta
'''
