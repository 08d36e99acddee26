"""Computes in float64 for accuracy and casts the result back to X's dtype at the end."""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    Xd, Kd = X.double(), K.double()
    kh, kw = Kd.shape
    oh, ow = Xd.shape[0] - kh + 1, Xd.shape[1] - kw + 1
    Y = torch.zeros(oh, ow, dtype=torch.float64)
    for a in range(kh):
        for b in range(kw):
            Y = Y + Kd[a, b] * Xd[a:a + oh, b:b + ow]
    return Y.to(dtype=X.dtype, device=X.device)
'''
