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
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))

    if mode == "train":
        mean = x.mean(dim=0)
        var = ((x - mean) ** 2).mean(dim=0)  # biased: divide by N, not N - 1
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        # Test mode: the running statistics stand in for the batch and stay as they are.
        mean, var = running_mean, running_var

    std = torch.sqrt(var + eps)
    x_hat = (x - mean) / std
    out = gamma * x_hat + beta  # learned scale and shift: any mean and spread again
    cache = (x_hat, std, gamma, mode)
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
    x_hat, std, gamma, mode = cache
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx_hat = dout * gamma
    if mode == "test":
        # The running statistics are constants: only x_hat = (x - mean) / std depends on x.
        return dx_hat / std, dgamma, dbeta
    # Train mode: the batch mean and variance depend on every x too. The chain rule through
    # x_hat = (x - mean) / std, with mean and std taken over the N rows, gives
    #   dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std,
    # where each mean is over the batch (dim 0), one value per feature.
    dx = (dx_hat - dx_hat.mean(dim=0) - x_hat * (dx_hat * x_hat).mean(dim=0)) / std
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
    N, C, H, W = x.shape
    # Channels last, then one row per (image, position): each column holds one channel's
    # N*H*W values, which is exactly the (N, D) layout that batchnorm_forward expects.
    x_rows = x.permute(0, 2, 3, 1).reshape(N * H * W, C)
    out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)
    # Undo both steps in reverse order: rows back to (N, H, W, C), then channels to dim 1.
    out = out_rows.reshape(N, H, W, C).permute(0, 3, 1, 2)
    return out, cache
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
    N, C, H, W = dout.shape
    # The same layout change as in the forward, so that row r of dout_rows lines up with
    # row r of the forward's x_rows.
    dout_rows = dout.permute(0, 2, 3, 1).reshape(N * H * W, C)
    dx_rows, dgamma, dbeta = batchnorm_backward(dout_rows, cache)
    dx = dx_rows.reshape(N, H, W, C).permute(0, 3, 1, 2)
    return dx, dgamma, dbeta
    ### END SOLUTION
