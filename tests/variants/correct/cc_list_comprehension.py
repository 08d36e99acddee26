"""A nested list comprehension of window sums turned into a tensor with
``torch.tensor(..., dtype=X.dtype)``.
"""

TARGET = "cross_correlation.py"
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    rows = [[(X[i:i + kh, j:j + kw] * K).sum().item()
             for j in range(X.shape[1] - kw + 1)]
            for i in range(X.shape[0] - kh + 1)]
    return torch.tensor(rows, dtype=X.dtype, device=X.device)
'''
