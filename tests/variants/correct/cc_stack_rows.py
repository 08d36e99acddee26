"""Computes each output row as a 1-D tensor and ``torch.stack``s the rows."""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    H, W = X.shape
    rows = []
    for i in range(H - kh + 1):
        band = X[i:i + kh]
        row = torch.stack([(band[:, j:j + kw] * K).sum() for j in range(W - kw + 1)])
        rows.append(row)
    return torch.stack(rows).to(X.dtype)
'''
