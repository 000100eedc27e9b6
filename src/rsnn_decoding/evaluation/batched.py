"""Batched NeuroBench evaluation: the same metrics as the per-step `evaluate.StreamingNet`, many times faster.

The per-step path calls fc_in, fc_rec, fc_out and the spike module once per time step, so NeuroBench's
hooks (SynapticOperations binarises a deep copy of the layer on every call) dominate its run time.
`BatchedNet` keeps the Benchmark's batches (steps, 1, C) and, inside each batch:

1. runs the recursion step by step with the SAME torch operations as `RSNN.step` (the model's pure
   `lif_step` / `readout_step`, `F.linear` on the layer weights, Heaviside of mem - threshold), but
   without calling the hooked modules, so spikes and states are bit-identical to the per-step path;
2. calls the spike module ONCE on the stacked pre-update membranes (T, H), so ActivationSparsity
   counts the same spikes (asserted equal to the recursion's spikes);
3. calls each connection layer's counting copy ONCE per group of rows with the stacked inputs, so
   SynapticOperations adds the same integers.

Why NeuroBench 2.3.0 gives the same totals (see neurobench/metrics/workload/synaptic_operations.py and
metrics/utils/layers/{input,macs}.py):

- it divides by `data[0].size(0)` summed over batches and ActivationSparsity is a batch-weighted mean:
  the DataLoader batches are unchanged;
- AC vs MAC is decided once per call from the whole input (values all in {0, 1, -1} -> AC): rows are
  grouped into binary and non-binary ones and each group is one call, which is what the per-step
  calls add up to (spike inputs of fc_rec / fc_out are asserted binary);
- each call's count is `int(binary_layer(binary_inputs).sum())` in the layer's dtype, then summed as
  Python ints: the counting copies are float64 (exact below 2^53; calls are split to stay below), held
  outside the module tree (a plain tuple attribute), so Footprint, ParameterCount and ConnectionSparsity,
  which walk `net.parameters()` / `net.children()`, see exactly the network's own layers. A float16
  network counted in float16 would overflow above 65504 per call.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from neurobench.models import TorchModel
from torch import Tensor, nn

from rsnn_decoding.evaluation import half_emulation
from rsnn_decoding.evaluation.steps import run_steps
from rsnn_decoding.network.functional import NetState, head_mean
from rsnn_decoding.network.rsnn import RSNN, SpikeFn

COUNT_DTYPE = torch.float64
EXACT_LIMIT = {torch.float64: 2**53, torch.float32: 2**24, torch.float16: 2048}


class BatchedNet(nn.Module):
    """(steps, 1, C) -> (steps, 2) with the per-step path's numbers; hooks see one call per batch."""

    def __init__(self, rsnn: RSNN, count_dtype: torch.dtype = COUNT_DTYPE, half_emulation: bool = True) -> None:
        """Wrap the network; the counting copies live outside the module tree (no extra parameters).

        half_emulation: run a float16 CPU network's steps with half_emulation.HalfStepper (same bits).
        """
        super().__init__()
        self.rsnn = rsnn
        self.half_emulation = half_emulation
        self._stepper: half_emulation.HalfStepper | None = None
        self.count_dtype = count_dtype
        self.counters: tuple[nn.Linear, ...] = counting_copies(rsnn, count_dtype)
        self._state: NetState | None = None
        self.last_spikes: Tensor | None = None

    def reset(self) -> None:
        """Start the next call from the network's initial state."""
        self._state = None

    def forward(self, x: Tensor) -> Tensor:
        """Stream x (steps, 1, C) through the network; predictions (steps, 2) in float32."""
        rsnn = self.rsnn
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] != rsnn.n_inputs:
            raise ValueError(f"expected input (steps, 1, {rsnn.n_inputs}), got {tuple(x.shape)}")
        x = x.to(device=rsnn.device, dtype=rsnn.dtype)
        state = self._state if self._state is not None else rsnn.init_state(1)
        with torch.no_grad():
            mems, spikes, outs, self._state = self._steps(x, state)
            hooked = rsnn.spike(mems)  # the one activation call of this batch (NeuroBench hook)
            if not torch.equal(hooked, spikes):
                raise RuntimeError("batched evaluation: spike module disagrees with the recursion's spikes")
            count_calls(self.counters, (x[:, 0], spikes, spikes))
        self.last_spikes = spikes
        return head_mean(outs).float()


    def _steps(self, x: Tensor, state: NetState) -> tuple[Tensor, Tensor, Tensor, NetState]:
        """The batch's recursion: HalfStepper for a float16 CPU network (when enabled), else run_steps."""
        if self.half_emulation and half_emulation.supported(self.rsnn):
            if self._stepper is None:
                self._stepper = half_emulation.HalfStepper(self.rsnn)
            return self._stepper.run(x, state)
        return run_steps(self.rsnn, x, state)


def counting_copies(rsnn: RSNN, dtype: torch.dtype = COUNT_DTYPE) -> tuple[nn.Linear, ...]:
    """Detached CPU copies of fc_in, fc_rec, fc_out in `dtype` (same zero pattern as the weights)."""
    layers = []
    for layer in (rsnn.fc_in, rsnn.fc_rec, rsnn.fc_out):
        c = copy.deepcopy(layer).to(device="cpu", dtype=dtype)
        c.weight.requires_grad_(False)
        if not torch.equal(c.weight != 0, layer.weight.detach().cpu() != 0):
            raise RuntimeError("batched evaluation: counting copy changed the weights' zero pattern")
        layers.append(c)
    return tuple(layers)


def binary_rows(inputs: Tensor) -> Tensor:
    """Rows whose values are all in {0, 1, -1}: NeuroBench counts such a call as ACs, else as MACs."""
    return ((inputs == 0) | (inputs == 1) | (inputs == -1)).all(dim=1)


def max_rows(layer: nn.Linear, dtype: torch.dtype) -> int:
    """Most rows of one call whose dense count (rows * in * out) stays exact in dtype."""
    return max(1, EXACT_LIMIT[dtype] // (layer.in_features * layer.out_features))


def count_calls(counters: tuple[nn.Linear, ...], inputs: tuple[Tensor, ...]) -> None:
    """Call each counting layer with its stacked inputs: one call per group (binary / not) and exact chunk."""
    for i, (layer, rows) in enumerate(zip(counters, inputs, strict=True)):
        rows = rows.detach().to(device="cpu", dtype=layer.weight.dtype)
        binary = binary_rows(rows)
        if i > 0 and not bool(binary.all()):
            raise RuntimeError("batched evaluation: hidden spikes are not binary")
        limit = max_rows(layer, layer.weight.dtype)
        for group in (rows[binary], rows[~binary]):
            for start in range(0, group.shape[0], limit):
                layer(group[start : start + limit])


class BatchedTorchModel(TorchModel):
    """NeuroBench TorchModel whose connection hooks sit on the net's counting copies."""

    def connection_layers(self) -> list[nn.Module]:
        """The counting copies of fc_in, fc_rec, fc_out (outside the module tree)."""
        return list(self.net.counters)


def neurobench_model_batched(rsnn: RSNN, half_emulation: bool = True) -> tuple[TorchModel, BatchedNet]:
    """NeuroBench model around a BatchedNet, with the spike module registered as activation."""
    net = BatchedNet(rsnn, half_emulation=half_emulation)
    nb_model = BatchedTorchModel(net)
    nb_model.add_activation_module(SpikeFn)
    return nb_model, net


def describe(rsnn: RSNN) -> dict[str, Any]:
    """Device and dtype of an evaluated network, as recorded in the eval JSON."""
    return {"device": str(rsnn.device), "dtype": str(rsnn.dtype).removeprefix("torch.")}
