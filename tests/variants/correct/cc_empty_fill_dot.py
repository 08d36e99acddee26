"""Fills ``torch.empty`` of X's dtype element by element with ``torch.dot`` of flattened
window and kernel (``reshape`` because a window of X is not contiguous).
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    Y = torch.empty(X.shape[0] - kh + 1, X.shape[1] - kw + 1, dtype=X.dtype, device=X.device)
    k = K.to(X.dtype).reshape(-1)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = torch.dot(X[i:i + kh, j:j + kw].reshape(-1), k)
    return Y
'''
