"""Builds the output as a Python list of lists and returns it without converting it to a
tensor.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "the result is a torch.Tensor"
ORACLE = "cc_returns_tensor"
FEEDBACK = ("got a Python list",)
CODE = '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    return [[(X[i:i + kh, j:j + kw] * K).sum().item() for j in range(X.shape[1] - kw + 1)]
            for i in range(X.shape[0] - kh + 1)]
'''
