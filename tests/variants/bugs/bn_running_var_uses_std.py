"""Keeps a running *standard deviation* by mistake: the running update uses
``sqrt(var + eps)`` instead of the batch variance.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "running_var after one step equals 0.1 * biased batch variance"
ORACLE = "bn_running_stats_one_step"
CODE = '''
_reference_forward = spatial_batchnorm_forward


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    old = bn_param.get("running_var")
    out, cache = _reference_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] == "train":
        momentum = bn_param.get("momentum", 0.9)
        var = x.var(dim=(0, 2, 3), unbiased=False)
        if old is None:
            old = torch.zeros_like(var)
        bn_param["running_var"] = momentum * old + (1 - momentum) * torch.sqrt(
            var + bn_param.get("eps", 1e-5))
    return out, cache
'''
