"""PyTorch: an eager module, TorchScript or an ExportedProgram (loaded by torch_loading.py), on CUDA for --device cuda."""

from __future__ import annotations

import numpy as np

from modelport.libraries import require
from modelport.torch_modules import output_names
from modelport.types import TensorSpec
from modelport.validators.runtimes.base import ANY_DTYPE, Runner


class TorchRunner(Runner):
    """An eager module from `file.py:callable` (optionally with --weights), TorchScript (.pt) or an
    ExportedProgram (.pt2). Outputs are named output / output_0, output_1, ... as the exporter names them."""

    runtime = "torch"

    def __init__(self, path: str, device: str = "cpu", flavor: str = "callable", threads: int | None = None,
                 input_specs: list[TensorSpec] | None = None, weights: str | None = None,
                 task: str | None = None):
        super().__init__(path, device, threads)
        self.flavor = flavor
        self._inputs = input_specs
        self.weights = weights
        self.task = task  # a Hugging Face folder's --task
        self._model64 = None  # the float64 copy, made on first use; False when the module cannot be one

    def _load(self):
        from modelport.validators.runtimes.torch_loading import load_torch_model

        self.torch = require("torch", "running PyTorch")
        if self.threads:
            self.torch.set_num_threads(self.threads)
        self.device_used = self._pick_device(self.torch.cuda.is_available(), "torch sees no CUDA device")
        self.model, names, shapes, dtypes = load_torch_model(self.path, self.flavor, self.weights, self.device_used, self.task)
        if self._inputs is None:
            # A Python module declares no dtypes: "any" tells the feed mapping to keep the source's dtype.
            self._inputs = [TensorSpec(n, s, d if d not in (None, "bfloat16") else ANY_DTYPE)
                            for n, s, d in zip(names, shapes, dtypes)]

    def input_specs(self):
        return list(self._inputs or [])

    def output_specs(self):
        return []

    def _args(self, feed, widen: bool = False) -> list:
        """The feed as tensors on the device, in input order; `widen` makes float32 ones float64."""
        torch = self.torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[s.name])) for s in self.input_specs()]
        if widen:
            args = [t.double() if t.dtype == torch.float32 else t for t in args]
        return [t.to(self.device_used) for t in args]

    def _call(self, model, args) -> dict:
        with self.torch.no_grad():
            out = model(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return {n: o.detach().cpu().numpy() for n, o in zip(output_names(model, len(outs)), outs)}

    def run(self, feed):
        return self._call(self.model, self._args(feed))

    def run_float64(self, feed):
        """An eager module's float64 copy (nn.Module.double()) on float64 inputs. Only eager modules:
        an ExportedProgram's or TorchScript's graph holds its float32 dtypes. None where the copy
        cannot be made or does not run in float64 (a module that builds float32 tensors itself)."""
        if self.flavor not in ("callable", "hf_folder") or self._model64 is False:
            return None
        if self._model64 is None:
            import copy

            try:
                self._model64 = copy.deepcopy(self.model).double()
            except Exception:  # not an nn.Module, or one deepcopy cannot copy
                self._model64 = False
                return None
        try:
            return self._call(self._model64, self._args(feed, widen=True))
        except Exception:
            self._model64 = False
            return None

    def prepare(self, feed):
        torch, model = self.torch, self.model
        args = self._args(feed)
        sync = torch.cuda.synchronize if self.device_used == "cuda" else None

        def call():
            with torch.no_grad():
                out = model(*args)
            if sync is not None:
                sync()  # CUDA kernels run asynchronously
            return out

        return call
