"""Mixes up scale and shift: ``out = beta * x_hat + gamma``."""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forward values against F.batch_norm"
ORACLE = "bn_forward_values"
CODE = '''
_reference_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return _reference_forward(x, beta, gamma, bn_param)
'''
