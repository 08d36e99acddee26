"""Reaches conv2d through getattr on a built-up name, so that no "conv2d" appears in the file.

A student trying to slip a library convolution past a text search of the source.
"""

TARGET = "cross_correlation.py"
SECTION = "cross_correlation"
CATCHES = "forbidden-call detection at run time (conv2d reached via getattr)"
ORACLE = "cross_correlation_forbidden"
FORBIDDEN_TESTS = ("cc_worked_example", "cc_output_shape", "cc_values_square",
                   "cc_values_nonsquare", "cc_dtype_device", "cc_inputs_unmodified",
                   "cc_edge_cases", "cc_random_shapes")
CODE = '''
def cross_corr_2d(X, K):
    helper = getattr(torch.nn.functional, "con" + "v2d")
    return helper(X[None, None], K.to(X.dtype)[None, None]).squeeze(0).squeeze(0)
'''
