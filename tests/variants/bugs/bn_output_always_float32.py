"""Converts everything with ``.float()`` 'to be safe', so float64 inputs come back as
float32 outputs.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "output dtype equals x's dtype (float64 in, float64 out)"
ORACLE = "bn_forward_shape_dtype"
CODE = '''
_reference_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _reference_forward(x, gamma, beta, bn_param)
    return out.float(), cache
'''
