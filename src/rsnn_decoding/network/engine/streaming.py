"""Batch-1 streaming inference: numba loop on CPU (float32/float64), the model's own torch step otherwise."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rsnn_decoding.network.engine.kernels import _stream_steps
from rsnn_decoding.network.jit import HAVE_NUMBA


def _half_safe_copy(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A detached copy of the model in dtype (decays then computed from the converted parameters)."""
    m = copy.deepcopy(model).to(dtype)
    m.eval()
    return m


class StreamingDecoder:
    """Batch-1 streaming inference, one 4 ms step per call; numba on CPU (float32/64), else torch."""

    def __init__(self, model: nn.Module, dtype: torch.dtype | None = None, backend: str | None = None) -> None:
        """Copy weights and decay factors of model (converted to dtype) for streaming."""
        dtype = model.dtype if dtype is None else dtype
        m = _half_safe_copy(model, dtype)
        with torch.no_grad():
            dec = m.decays()
            w_in, w_rec, w_out = (w.detach() for w in m.weight_matrices())
        self.dtype = dtype
        self.hidden = m.hidden_size
        self.n_inputs = m.n_inputs
        self.k2 = 2 * m.n_heads
        self.readout_init = m.cfg.readout_init
        numba_ok = HAVE_NUMBA and dtype in (torch.float32, torch.float64) and m.device.type == "cpu"
        self.backend = backend or ("numba" if numba_ok else "torch")
        if self.backend == "numba" and not numba_ok:
            raise ValueError("numba streaming needs numba, a CPU model and float32/float64")
        if self.backend == "numba":
            width = max(self.hidden, self.k2)
            d = np.zeros((6, width), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
            for row, v in enumerate(
                (dec.mem, 1 - dec.mem, dec.syn, dec.mem_out, 1 - dec.mem_out, dec.syn_out)
            ):
                d[row, : v.numel()] = v.numpy()
            self._dec = d
            self._w_in_t = np.ascontiguousarray(w_in.t().numpy())
            self._w_rec_t = np.ascontiguousarray(w_rec.t().numpy())
            self._w_out_t = np.ascontiguousarray(w_out.t().numpy())
            self._np_dtype = d.dtype
            self._y1 = np.zeros((1, 2), dtype=d.dtype)
        else:
            self._model = m
        self.reset()

    def reset(self) -> None:
        """Return to the initial state (zeros, readout out at readout_init)."""
        if self.backend == "numba":
            s = np.zeros((6, max(self.hidden, self.k2)), dtype=self._np_dtype)
            s[4, : self.k2] = self._np_dtype.type(self.readout_init)
            self._state = s
        else:
            self._tstate = self._model.init_state(1)

    def _as_array(self, x: Any) -> np.ndarray:
        """Input as a (T, C) contiguous numpy array in the decoder dtype."""
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"expected input (T, {self.n_inputs}) or ({self.n_inputs},), got {x.shape}")
        return np.ascontiguousarray(x, dtype=self._np_dtype)

    def step(self, x_t: Any) -> np.ndarray:
        """One step: x_t (C,) -> y_t (2,)."""
        if self.backend == "numba":
            xs = self._as_array(x_t)
            _stream_steps(xs, self._w_in_t, self._w_rec_t, self._w_out_t, self._dec, self._state, self._y1)
            return self._y1[0].copy()
        return self._torch_steps(torch.as_tensor(np.asarray(x_t)).reshape(1, -1))[0].numpy()

    def run(self, x: Any) -> np.ndarray:
        """Continue streaming over a whole sequence x (T, C) -> (T, 2)."""
        if self.backend == "numba":
            xs = self._as_array(x)
            ys = np.empty((xs.shape[0], 2), dtype=self._np_dtype)
            _stream_steps(xs, self._w_in_t, self._w_rec_t, self._w_out_t, self._dec, self._state, ys)
            return ys
        return self._torch_steps(torch.as_tensor(np.asarray(x))).numpy()

    @torch.no_grad()
    def _torch_steps(self, x: Tensor) -> Tensor:
        """Plain-torch steps of model._advance (used for float16 and CUDA)."""
        m = self._model
        x = x.to(device=m.device, dtype=self.dtype)
        ys = torch.empty(x.shape[0], 2, dtype=self.dtype)
        state = self._tstate
        for t in range(x.shape[0]):
            y, state = m.step(x[t : t + 1], state)
            ys[t] = y[0].cpu()
        self._tstate = state
        return ys
