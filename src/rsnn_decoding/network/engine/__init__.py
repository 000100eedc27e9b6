"""The fast engine: whole-sequence training runs and compiled streaming inference for `rsnn.RSNN` (same numbers as
`rsnn.reference_run`).

Training: `fast_run(model, x)` runs the whole sequence inside ONE custom autograd Function with a
hand-written backward-through-time (SuperSpike surrogate, detached reset, gradients of the decay
factors of hidden and readout units, spike counts differentiable). Dropout masks come from
model.dropout_masks (same draws as the reference). Two backends:

- "numba" (default on CPU, float32/float64; batch-major buffers): one parallel numba kernel runs
  the forward recursion and sums only the weight columns of non-zero inputs and spikes (the input
  projection and the recurrent/readout products are exact sparse sums). The backward product
  through [W_rec; W_out] is dense: a per-sample mat-vec in one parallel kernel for H <= 128, a BLAS
  matmul per step plus a fused elementwise kernel above. The recurrent, readout and input weight
  gradients sum only over the active (sample, step, neuron / channel) entries.
- "torch" (any device, any dtype; time-major buffers): the input projection of all steps is one
  matmul, the recursion uses fused in-place torch ops per step, the weight gradients are chunked
  matmuls over all steps.

The numba backend keeps its big state and adjoint buffers in a per-model `Workspace` between
calls (taken by a forward call, given back by its backward), which saves the page faults of
fresh memory on every training step. `hash_keep_numba` fills the dropout keep-masks of
model.draw_dropout_masks (counter-based hash, parallel, same bits as the torch implementation).

Streaming: `StreamingDecoder` copies the weights and decay factors to numpy and runs the step of
`RSNN.step` in a numba-compiled loop (batch 1, float32 or float64); float16 (numba has no float16
arithmetic on CPU) and CUDA use the model's own torch step on a converted copy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsnn_decoding.network.dropout import apply_keep
from rsnn_decoding.network.engine.common import _consts, pick_backend
from rsnn_decoding.network.engine.numba_backend import _NumbaSequenceFn, workspace
from rsnn_decoding.network.engine.streaming import StreamingDecoder
from rsnn_decoding.network.engine.torch_backend import _TorchSequenceFn
from rsnn_decoding.network.functional import RunOutput, head_mean
from rsnn_decoding.network.jit import HAVE_NUMBA, numba_threads


def fast_run(model: nn.Module, x: Tensor, backend: str | None = None) -> RunOutput:
    """Whole sequence x (B, T, C) -> RunOutput, same numbers and dropout draws as reference_run.

    backend: "numba" (CPU kernels, default on CPU) or "torch" (plain torch ops, any device).
    """
    x, in_keep, hid_keep, dec = model.prepare_run(x)
    consts = _consts(model, x.dtype, x.device)
    weights = (model.fc_rec.weight, model.fc_out.weight, dec.mem, dec.syn, dec.mem_out, dec.syn_out)
    if pick_backend(x.device, backend, x.dtype) == "numba":
        inputs = (x, model.fc_in.weight, *weights)
        release = not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs))
        outs, counts = _NumbaSequenceFn.apply(*inputs, in_keep, hid_keep, consts, workspace(model), release)
        return RunOutput(head_mean(outs), counts)
    u = F.linear(apply_keep(x, in_keep, model.in_dropout.p), model.fc_in.weight)  # (B, T, H): all steps at once
    outs, counts = _TorchSequenceFn.apply(u, *weights, hid_keep, consts)
    return RunOutput(head_mean(outs.transpose(0, 1)), counts)


__all__ = ["HAVE_NUMBA", "StreamingDecoder", "fast_run", "numba_threads", "pick_backend", "workspace"]
