"""The textbook definition, literally: four nested Python loops accumulating into a
``torch.zeros`` of X's dtype.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    H, W = X.shape
    kh, kw = K.shape
    Y = torch.zeros((H - kh + 1, W - kw + 1), dtype=X.dtype, device=X.device)
    for i in range(H - kh + 1):
        for j in range(W - kw + 1):
            total = 0
            for a in range(kh):
                for b in range(kw):
                    total += X[i + a, j + b] * K[a, b]
            Y[i, j] = total
    return Y
'''
