"""Keeps a dict cache whose 'undo' entry is a lambda that restores the (N, C, H, W) layout,
next to the vanilla batch norm's own cache and the ``torch.Size`` of x.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    size = x.size()
    to_flat = lambda t: t.permute(0, 2, 3, 1).reshape(-1, size[1])
    undo = lambda t: t.reshape(size[0], size[2], size[3], size[1]).permute(0, 3, 1, 2)
    out, inner = batchnorm_forward(to_flat(x), gamma, beta, bn_param)
    return undo(out), {"inner": inner, "flat": to_flat, "undo": undo, "size": size}


def spatial_batchnorm_backward(dout, cache):
    dx, dgamma, dbeta = batchnorm_backward(cache["flat"](dout), cache["inner"])
    return cache["undo"](dx), dgamma, dbeta
'''
