"""Splits the work into a helper ``correlate_rows`` that turns the kh input rows under one
output row into that output row, and stacks the rows; the docstring compares the result with
``F.conv2d`` and the result variable is called ``conv_out``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def correlate_rows(rows, K):
    """One output row: the kh rows of X under it, correlated with every row of K.

    This is what F.conv2d(X[None, None], K[None, None]) computes for one row of its
    output (F.conv2d is a cross-correlation too, no flip), but written by hand.
    """
    kh, kw = K.shape
    out_w = rows.shape[1] - kw + 1
    acc = torch.zeros(out_w, dtype=rows.dtype, device=rows.device)
    for a in range(kh):
        for b in range(kw):
            acc = acc + rows[a, b:b + out_w] * K[a, b]
    return acc


def cross_corr_2d(X, K):
    K = K.to(dtype=X.dtype, device=X.device)
    kh = K.shape[0]
    out_h = X.shape[0] - kh + 1
    conv_out = torch.stack([correlate_rows(X[i:i + kh], K) for i in range(out_h)])
    return conv_out
'''
