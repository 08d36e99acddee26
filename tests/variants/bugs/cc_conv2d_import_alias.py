"""Imports conv2d under another name at module level and calls the alias.

The name is bound when the module is imported, so replacing torch.nn.functional.conv2d
after the import does not catch it; a check of the source (or a guard installed before
the import) does.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "forbidden-call detection (conv2d imported as an alias before the call)"
ORACLE = "cross_correlation_forbidden"
FORBIDDEN_TESTS = ("cc_worked_example", "cc_output_shape", "cc_values_square",
                   "cc_values_nonsquare", "cc_dtype_device", "cc_inputs_unmodified",
                   "cc_edge_cases", "cc_random_shapes")
CODE = '''
from torch.nn.functional import conv2d as sliding_sum


def cross_corr_2d(X, K):
    return sliding_sum(X.unsqueeze(0).unsqueeze(0), K.to(X.dtype).unsqueeze(0).unsqueeze(0))[0, 0]
'''
