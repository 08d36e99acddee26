"""im2col with ``torch.nn.functional.unfold``, then a matrix-vector product.

F.unfold only extracts patches (it is not a convolution), so it is allowed. It has no
integer kernel on the CPU, so integer inputs go through float64 and back.
"""

TARGET = "cross_correlation.py"
CODE = '''
import torch.nn.functional as F


def cross_corr_2d(X, K):
    kh, kw = K.shape
    out_h, out_w = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    work = X if X.is_floating_point() else X.double()
    columns = F.unfold(work[None, None], kernel_size=(kh, kw))[0]  # (kh * kw, out_h * out_w)
    Y = K.reshape(1, -1).to(work.dtype) @ columns
    if not X.is_floating_point():
        Y = Y.round()
    return Y.reshape(out_h, out_w).to(X.dtype)
'''
