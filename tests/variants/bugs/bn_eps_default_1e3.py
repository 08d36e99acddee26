"""Uses 1e-3 as the default eps (another framework's default) instead of SPEC's 1e-5."""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forward values with the default eps against F.batch_norm(eps=1e-5)"
ORACLE = "bn_forward_values"
CODE = '''
_reference_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    if "eps" not in bn_param:
        bn_param["eps"] = 1e-3
    return _reference_forward(x, gamma, beta, bn_param)
'''
