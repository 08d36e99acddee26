"""Uses 0.99 as the default momentum instead of SPEC's 0.9."""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "running statistics after one step with the default momentum 0.9"
ORACLE = "bn_running_stats_one_step"
CODE = '''
_reference_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    bn_param.setdefault("momentum", 0.99)
    return _reference_forward(x, gamma, beta, bn_param)
'''
