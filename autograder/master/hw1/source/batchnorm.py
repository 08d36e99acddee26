"""Batch normalization for fully connected (N, D) and convolutional (N, C, H, W) inputs.

Conventions shared by every function here (they follow the CS231n course, not torch):

- ``bn_param`` is a dict with the keys
  - ``mode``: ``'train'`` or ``'test'`` (required; any other value is a ValueError);
  - ``eps``: added to the variance inside the square root (default 1e-5);
  - ``momentum``: weight of the old running value (default 0.9);
  - ``running_mean``, ``running_var``: one value per feature/channel; when absent they
    start as zeros with the dtype and device of x.
- In train mode the batch mean and the *biased* batch variance (divide by the number of
  values, not that number minus one) normalize x, and then, for both mean and variance,
  ``running = momentum * running + (1 - momentum) * batch_stat`` is written back into
  ``bn_param``. In test mode the running statistics normalize x and are left alone.
- ``out = gamma * x_hat + beta``.
- Outputs have the dtype and device of x (float64 in, float64 out); x, gamma, beta and dout
  are never modified; ``cache`` can be anything your backward needs.
- The batch may hold a single example or image (N = 1).
- Forbidden anywhere in this file: the normalization family by any route
  (torch.nn.functional.batch_norm, torch.batch_norm, nn.BatchNorm* and the other nn.*Norm*
  modules, the batch/group/layer/instance norm operators of ATen) and autograd in the
  forward or the backward (Tensor.backward, torch.autograd.*, torch.func / functorch).
  Allowed: elementwise and reduction operators (mean, var, var_mean, sum, ...), permute,
  reshape, loops, and numpy inside a function. A hidden test whose function uses a
  forbidden call scores 0, and the submission is flagged for review.
"""

import torch


def batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                      bn_param: dict) -> tuple[torch.Tensor, object]:
    """Forward pass of batch normalization for inputs of shape (N, D).

    Inputs:
    - x: data of shape (N, D).
    - gamma: scale of shape (D,).
    - beta: shift of shape (D,).
    - bn_param: dict as described at the top of this file; updated in place in train mode.
      Its running_mean and running_var have shape (D,).

    Returns a tuple of:
    - out: shape (N, D), same dtype and device as x.
    - cache: whatever batchnorm_backward needs.
    """
    ### BEGIN SOLUTION
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    # Statistics are per channel (dim 1) and pool every other dim, so this body also
    # serves (N, C, H, W) inputs: see spatial_batchnorm_forward.
    dims = tuple(d for d in range(x.dim()) if d != 1)
    shape = [1, -1] + [1] * (x.dim() - 2)
    zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    running_mean = bn_param.get("running_mean", zeros)
    running_var = bn_param.get("running_var", zeros)

    if mode == "train":
        mean = x.mean(dim=dims)
        # Centre once and reuse: the variance, the output and the backward all need x - mean.
        # (torch.var_mean over dims other than the last is several times slower.)
        xc = x - mean.view(shape)
        count = x.numel() // x.shape[1]
        var = torch.linalg.vector_norm(xc, dim=dims).square() / count  # biased variance
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
        xc = x - mean.view(shape)
    inv_std = torch.rsqrt(var + eps)
    # out = gamma * x_hat + beta with x_hat = xc * inv_std, as one multiply-add per element.
    out = torch.addcmul(beta.view(shape), xc, (gamma * inv_std).view(shape))
    cache = (xc, inv_std, gamma, mode, dims, shape)
    return out, cache
    ### END SOLUTION


def batchnorm_backward(dout: torch.Tensor, cache: object
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward pass of batch normalization for inputs of shape (N, D).

    Inputs:
    - dout: upstream gradient of shape (N, D).
    - cache: what batchnorm_forward returned.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, D).
    - dgamma: gradient with respect to gamma, shape (D,).
    - dbeta: gradient with respect to beta, shape (D,).
    """
    ### BEGIN SOLUTION
    xc, inv_std, gamma, mode, dims, shape = cache
    count = xc.numel() // xc.shape[1]
    dbeta = dout.sum(dim=dims)
    dout_xc = (dout * xc).sum(dim=dims)  # sum of dout * (x - mean), per channel
    dgamma = dout_xc * inv_std
    k_dout = gamma * inv_std
    if mode == "test":
        # The running statistics are constants, so only the affine map remains.
        return dout * k_dout.view(shape), dgamma, dbeta
    # Train mode: the batch mean and variance depend on x too. The chain rule gives
    # dx = k_dout * (dout - mean(dout) - x_hat * mean(dout * x_hat)),
    # written here as one per-channel affine function of dout and xc.
    k_xc = -k_dout * inv_std * inv_std * dout_xc / count
    k_0 = -k_dout * dbeta / count
    dx = torch.addcmul(k_0.view(shape), xc, k_xc.view(shape)).addcmul_(dout, k_dout.view(shape))
    return dx, dgamma, dbeta
    ### END SOLUTION


def spatial_batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                              bn_param: dict) -> tuple[torch.Tensor, object]:
    """Forward pass of spatial batch normalization for inputs of shape (N, C, H, W).

    Each channel has one mean and one variance, taken over the batch and over every
    spatial position (N * H * W values), so a channel is normalized the same way
    wherever it appears in the image.

    Inputs:
    - x: data of shape (N, C, H, W).
    - gamma: scale of shape (C,).
    - beta: shift of shape (C,).
    - bn_param: dict as described at the top of this file; updated in place in train mode.
      Its running_mean and running_var have shape (C,): one value per channel.

    Returns a tuple of:
    - out: shape (N, C, H, W), same dtype and device as x.
    - cache: whatever spatial_batchnorm_backward needs.

    Hint: batchnorm_forward above already does the work for (N, D) data. Move the
    channel axis last and flatten, (N, C, H, W) -> (N*H*W, C), normalize, and undo both.
    """
    ### BEGIN SOLUTION
    return batchnorm_forward(x, gamma, beta, bn_param)
    ### END SOLUTION


def spatial_batchnorm_backward(dout: torch.Tensor, cache: object
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward pass of spatial batch normalization.

    Inputs:
    - dout: upstream gradient of shape (N, C, H, W).
    - cache: what spatial_batchnorm_forward returned.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W).
    - dgamma: gradient with respect to gamma, shape (C,).
    - dbeta: gradient with respect to beta, shape (C,).

    Hint: if your forward went through batchnorm_forward on (N*H*W, C) data, permute and
    reshape dout the same way, call batchnorm_backward, and bring dx back to (N, C, H, W).
    """
    ### BEGIN SOLUTION
    return batchnorm_backward(dout, cache)
    ### END SOLUTION
