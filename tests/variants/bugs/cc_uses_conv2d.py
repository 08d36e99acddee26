"""Calls torch.nn.functional.conv2d directly: right values, forbidden call."""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "forbidden-call detection (torch.nn.functional.conv2d)"
ORACLE = "cross_correlation_forbidden"
FORBIDDEN_TESTS = ("cc_worked_example", "cc_output_shape", "cc_values_square",
                   "cc_values_nonsquare", "cc_dtype_device", "cc_inputs_unmodified",
                   "cc_edge_cases", "cc_random_shapes")
CODE = '''
import torch.nn.functional as F


def cross_corr_2d(X, K):
    return F.conv2d(X[None, None], K.to(X.dtype)[None, None])[0, 0]
'''
