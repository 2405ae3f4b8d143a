"""Intermediate tensors of one model on one input, in its own runtime.

Each capture has a `graph` (graphs.TensorGraph) and `values(names)`, which may run the model
again: the caller asks in chunks (locate.py), so only one chunk of values is held at a time.

- ONNX Runtime: the asked tensors are made graph outputs of a copy of the model (ORT needs no
  type for an output) and the session runs once per chunk, with ORT's default optimisations as
  `validate` runs it. A marked tensor can keep ORT from fusing it away; `outputs()` of every run
  are kept so the caller can check that marking did not change the model's own outputs.
- LiteRT: `experimental_preserve_all_tensors=True` with the default delegates off (XNNPACK reuses
  tensor memory), invoked once; int8/uint8 tensors are dequantized with their scale and zero point.
- PyTorch: the ExportedProgram torch.onnx exports from (its decompositions, its node names, as
  `torch.onnx.verification` does), run by an FX interpreter that keeps the asked nodes' values;
  a PyTorch artifact of the ONNX -> PyTorch converter, its .pt2's graph or its package's traced
  forward(), the same way.
"""

from __future__ import annotations

import numpy as np

from modelport.errors import UsageError, first_line
from modelport.validators.locate import graphs


def _bytes_of(shape: list[int] | None, fallback: int) -> int:
    if not shape:
        return fallback
    return int(np.prod([max(1, d) for d in shape])) * 4


class Capture:
    graph: graphs.TensorGraph

    def scale(self, name: str) -> float | None:
        """The tensor's quantization scale where it holds integers standing for floats (LiteRT)."""
        return None

    runs = 0  # how many times the model was run to capture
    # Every value is held by the runtime already (LiteRT preserves all tensors): asking one at a
    # time costs no run, so the caller need not hold a chunk of them.
    held = False
    seconds = 0.0  # spent in values(): running the model again, reading its tensors

    def values(self, names: list[str]) -> dict[str, np.ndarray]:
        """The named tensors' values (asked in chunks: each call may run the model)."""
        import time

        t0 = time.perf_counter()
        try:
            return self._values(names)
        finally:
            self.seconds += time.perf_counter() - t0

    def _values(self, names: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def size(self, name: str, fallback: int) -> int:
        """Bytes of a tensor's value (float32 assumed; `fallback` when its shape is unknown)."""
        info = self.graph.by_name.get(name)
        return _bytes_of(info.shape if info else None, fallback)


class OnnxCapture(Capture):
    """The model is written once into a scratch folder with its weights in a file beside it (which
    also empties them from the Python copy); each chunk then writes only the small graph with that
    chunk's tensors marked, and ONNX Runtime loads it from there (external data inside the model's
    folder, as ORT requires). Memory: one session's weights and one chunk of values at a time."""

    def __init__(self, path: str, feed: dict[str, np.ndarray]):
        import tempfile

        import onnx
        from onnx.external_data_helper import uses_external_data

        try:
            model = onnx.load(path, load_external_data=False)
        except Exception as e:
            raise UsageError(f"{path}: not a readable ONNX file ({first_line(e, 160)})") from None
        if any(uses_external_data(t) for t in model.graph.initializer):
            raise UsageError(f"{path}: its weights are in external data files; locate reads ONNX models of up to "
                             "2 GB in one file for now")
        self.path, self.feed = path, feed
        self.own_outputs = [o.name for o in model.graph.output]
        self.folder = tempfile.mkdtemp(prefix="locate-onnx-")
        import os

        onnx.save(model, os.path.join(self.folder, "model.onnx"), save_as_external_data=True,
                  all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
        self.skeleton = model  # the graph without its large weights (they are in weights.bin)
        self._full = None
        self.graph = graphs.from_onnx(model, {k: list(v.shape) for k, v in feed.items()})
        self.outputs_seen: list[dict[str, np.ndarray]] = []

    def _values(self, names):
        import os

        import onnx
        import onnxruntime as ort

        model = self.skeleton
        kept = list(model.graph.output)
        del model.graph.output[:]
        wanted = list(dict.fromkeys([*self.own_outputs, *names]))
        for n in wanted:
            model.graph.output.append(onnx.ValueInfoProto(name=n))
        marked = os.path.join(self.folder, "marked.onnx")
        onnx.save(model, marked)
        del model.graph.output[:]
        model.graph.output.extend(kept)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(marked, opts, providers=["CPUExecutionProvider"])
            got = dict(zip(wanted, session.run(wanted, self.feed)))
        except Exception as e:
            raise UsageError(f"{self.path}: ONNX Runtime cannot run it with its intermediate tensors marked "
                             f"({first_line(e, 200)})") from None
        finally:
            os.remove(marked)
        del session
        release_freed_memory()
        self.runs += 1
        self.outputs_seen.append({n: got[n] for n in self.own_outputs})
        return {n: got[n] for n in names}

    def full_model(self):
        """The model with its weights, loaded once when asked (the local mode cuts layers out of it)."""
        import os

        import onnx

        if self._full is None:
            self._full = onnx.load(os.path.join(self.folder, "model.onnx"))
        return self._full

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


class TFLiteCapture(Capture):
    """The graph is read at once (pairing needs it); the interpreter is made and run on the first
    values() call, so that it is not alive while the source's chunk is being captured (both peaks
    would add up: ResNet-50's preserved tensors and LiteRT's scratch are ~225 MB)."""

    held = True

    def __init__(self, path: str, feed: dict[str, np.ndarray]):
        from modelport.io_ops import refuse, tflite_io_ops

        try:
            self.graph = graphs.from_tflite(path)
        except ValueError as e:
            raise UsageError(f"{path}: corrupt or truncated TFLite file ({e})") from None
        refuse(path, tflite_io_ops(path))  # Flex file ops, as the runner refuses them (modelport/io_ops.py)
        self.path, self.feed = path, feed
        self.interpreter = None
        self._model_t = None
        self.details: dict[int, dict] = {}
        self.outputs_seen: list[dict[str, np.ndarray]] = []

    def _invoke(self) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        try:
            it = Interpreter(model_path=self.path, experimental_preserve_all_tensors=True,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"{self.path}: not a loadable TFLite model ({first_line(e, 200)})") from None
        details = {d["name"]: d for d in it.get_input_details()}
        outputs = {d["name"]: d for d in it.get_output_details()}
        signatures = it.get_signature_list()
        if signatures:  # keyed as the runner keys them: by the signature's names
            signature = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            details.update(it.get_signature_runner(signature).get_input_details())
            outputs = it.get_signature_runner(signature).get_output_details()
        for name, value in self.feed.items():
            d = details[name]
            if list(d["shape"]) != list(value.shape):
                it.resize_tensor_input(d["index"], value.shape)
        it.allocate_tensors()
        for name, value in self.feed.items():
            it.set_tensor(details[name]["index"], value.astype(details[name]["dtype"], copy=False))
        it.invoke()
        self.interpreter, self.runs = it, 1
        self.details = {d["index"]: d for d in it.get_tensor_details()}
        self.outputs_seen = [{name: it.get_tensor(d["index"]) for name, d in outputs.items()}]

    @property
    def model_t(self):
        """The flatbuffer unpacked with its buffers (only the local mode cuts layers out of it)."""
        if self._model_t is None:
            self._model_t = graphs.unpack_tflite(self.path)
        return self._model_t

    def scale(self, name: str) -> float | None:
        """The tensor's quantization scale (the first, per-channel), None for a float tensor."""
        q = self.details.get(self.graph.by_name[name].index, {}).get("quantization_parameters") or {}
        return float(q["scales"][0]) if len(q.get("scales", [])) else None

    def quantization(self) -> dict[int, dict]:
        """Each tensor's quantization parameters, by index (after the first run)."""
        if self.interpreter is None:
            self._invoke()
        return {i: d.get("quantization_parameters") for i, d in self.details.items()}

    def _values(self, names):
        if self.interpreter is None:
            self._invoke()
        out = {}
        for n in names:
            info = self.graph.by_name[n]
            value = self.interpreter.get_tensor(info.index)  # a copy of the interpreter's buffer already
            out[n] = dequantize(value, self.details.get(info.index, {}).get("quantization_parameters"))
        return out


class SavedModelCapture(Capture):
    """A SavedModel's signature (serving_default, else the first), frozen: its variables made
    constants and the function it calls inlined (TensorFlow's convert_variables_to_constants_v2),
    imported into one graph whose tensors a pruned function fetches, chunk by chunk. The model was
    scanned for file and process ops when its runner opened it (validation.open_sample)."""

    def __init__(self, path: str, feed: dict[str, np.ndarray]):
        from modelport.libraries import require

        tf = require("tensorflow", "capturing a SavedModel's tensors")
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        try:
            loaded = tf.saved_model.load(path)  # held while freezing: a Keras export's weights are its variables
            signatures = loaded.signatures
            fn = signatures["serving_default" if "serving_default" in signatures else next(iter(signatures))]
            frozen = convert_variables_to_constants_v2(fn)
        except Exception as e:
            raise UsageError(f"{path}: its signature cannot be frozen to capture its tensors ({first_line(e, 200)})") from None
        graph_def = frozen.graph.as_graph_def()
        self.tf, self.feed, self.path = tf, feed, path
        self.wrapped = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph_def, name=""), [])
        placeholders = {t.name.split(":")[0]: t.name for t in frozen.inputs}
        self.inputs = {k: placeholders.get(k, t.name) for k, t in zip(feed, frozen.inputs)}
        self.graph = graphs.from_tf_graph(self.wrapped.graph, list(self.inputs.values()), [t.name for t in frozen.outputs])
        self.outputs_seen: list = []

    def _run(self, feed: dict[str, np.ndarray], names: list[str]) -> list:
        g = self.wrapped.graph
        pruned = self.wrapped.prune(feeds=[g.get_tensor_by_name(k) for k in feed],
                                    fetches=[g.get_tensor_by_name(n) for n in names])
        return [o.numpy() for o in pruned(*[self.tf.constant(v) for v in feed.values()])]

    def _values(self, names):
        self.runs += 1
        return dict(zip(names, self._run({self.inputs[k]: v for k, v in self.feed.items()}, names)))

    def run_layer(self, feed: dict[str, np.ndarray], output: str) -> np.ndarray:
        """The sub-graph from the tensors fed to `output` (the local mode): TensorFlow's pruning
        feeds intermediate tensors as it feeds placeholders."""
        from modelport.validators.locate.local import LayerError

        try:
            return self._run(feed, [output])[0]
        except Exception as e:
            raise LayerError(f"the layer alone does not run in TensorFlow ({first_line(e, 160)})") from None


class KerasCapture(SavedModelCapture):
    """A Keras source, run as the SavedModel its keras -> savedmodel step writes (Keras' own
    `model.export`, into a scratch folder removed on close): every Keras route starts with that
    step, so the source's graph is the one the converters saw. Its TensorFlow names are not kept
    by the steps after it, so the route is paired by structure."""

    def __init__(self, model, feed: dict[str, np.ndarray]):
        import tempfile

        self.folder = tempfile.mkdtemp(prefix="locate-keras-")
        try:
            model.export(self.folder, format="tf_saved_model", verbose=False)
        except Exception as e:
            self.close()
            raise UsageError(f"locate runs a Keras source as the SavedModel Keras exports, and exporting it failed "
                             f"({type(e).__name__}: {first_line(e, 200)})") from None
        try:
            super().__init__(self.folder, feed)
        except BaseException:  # the caller holds no capture to close: the folder goes now
            self.close()
            raise

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def release_freed_memory() -> None:
    """Give the memory a finished ONNX Runtime session freed back to the system. glibc keeps freed
    blocks for reuse, and LiteRT's allocations that come next do not reuse them: measured on light
    ResNet-50, 85 MB stayed resident after the source's session was gone, on top of which the
    TFLite capture then allocated. No-op where there is no glibc."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def dequantize(value: np.ndarray, q: dict | None) -> np.ndarray:
    """An int8/uint8/int16 tensor with one scale (or one per channel) as the float values it stands for."""
    if q is None or value.dtype.kind not in "iu" or not len(q.get("scales", [])):
        return value
    scales, zeros = np.asarray(q["scales"], np.float64), np.asarray(q["zero_points"], np.float64)
    if scales.size == 1:
        return ((value.astype(np.float64) - zeros[0]) * scales[0]).astype(np.float32)
    axis = int(q.get("quantized_dimension", 0))
    shape = [1] * value.ndim
    shape[axis] = -1
    return ((value.astype(np.float64) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


class FxCapture(Capture):
    """An fx GraphModule (`module`) run on `args` by an FX interpreter that keeps the asked nodes' values."""

    def __init__(self, module, args: list):
        self.module = module
        self.args = args
        self.graph = graphs.from_fx(self.module)
        self.outputs_seen: list = []

    def _values(self, names):
        import torch

        wanted, kept = set(names), {}

        class Keeper(torch.fx.Interpreter):
            def run_node(self, n):
                result = super().run_node(n)
                if n.name in wanted and isinstance(result, torch.Tensor):
                    kept[n.name] = result.detach().cpu().numpy().copy()
                return result

        with torch.no_grad():
            Keeper(self.module).run(*self.args)
        self.runs += 1
        return kept

    def run_layer(self, feed: dict[str, np.ndarray], producers: list[str], output: str) -> np.ndarray:
        """The nodes `producers` alone, in graph order, fed `feed` (node name -> value) for the
        nodes they read: the layer's own result, apart from what it inherits (--mode local)."""
        import torch

        interpreter = torch.fx.Interpreter(self.module)
        nodes = {n.name: n for n in self.module.graph.nodes}
        env = {nodes[name]: torch.from_numpy(np.ascontiguousarray(value)) for name, value in feed.items()}
        interpreter.env = env
        todo = set(producers)
        with torch.no_grad():
            for n in self.module.graph.nodes:
                if n.op == "get_attr" or n.name in todo:
                    env[n] = interpreter.run_node(n)
        value = env.get(nodes[output])
        if not isinstance(value, torch.Tensor):
            raise KeyError(output)
        return value.detach().cpu().numpy()


class TorchCapture(FxCapture):
    """A PyTorch source: `module` is the eager model (or an ExportedProgram's module), `args` its
    inputs in order, run as the ExportedProgram torch.onnx exports from."""

    def __init__(self, module, args: list, input_names: list[str], output_names: list[str]):
        import torch

        try:
            program = torch.onnx.export(module, tuple(args), dynamo=True, input_names=input_names,
                                        output_names=output_names, verbose=False, optimize=False)
        except Exception as e:
            raise UsageError("locate follows a PyTorch source through the ExportedProgram torch.onnx exports from, "
                             f"and exporting this model failed ({type(e).__name__}: {first_line(e, 200)})") from None
        super().__init__(program.exported_program.module(), args)


class PyTorchArtifactCapture(FxCapture):
    """A PyTorch artifact of modelport's ONNX -> PyTorch converter, whose manifest pairs its tensors
    with the ONNX values (converters/onnx_torch/provenance.py): an ExportedProgram run as its
    graph, or a package whose forward() is traced into one with its variables' names
    (trace_package). TorchScript keeps no names: refused, pointing to --bisect."""

    def __init__(self, path: str, feed: dict[str, np.ndarray]):
        import torch

        from modelport.formats import detect
        from modelport.validators.runtimes.torch_loading import load_torch_model

        flavor = detect(path, thorough=False).flavor
        if flavor not in ("exported_program", "package"):
            raise UsageError(f"no tensor inside {path} corresponds to one inside the source: {flavor} keeps no tensor "
                             "names (locate reads those of an ExportedProgram .pt2 or a package folder)")
        model, names, _, _ = load_torch_model(path, flavor)
        module = model if flavor == "exported_program" else trace_package(model, path)
        missing = [n for n in names if n not in feed]
        if missing:
            raise UsageError(f"{path}: no value for its input(s) {', '.join(missing)}")
        super().__init__(module, [torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names])


def trace_package(model, path: str):
    """The package's forward() as an fx graph whose nodes carry its local variables' names (the
    names its manifest pairs with ONNX values). forward() is fx's own code generation, one call per
    line, so tracing it (the package's helper functions and sub-modules kept whole, as single
    calls) gives one node per assignment, in order; a forward edited into something else is refused."""
    import ast
    import inspect
    import sys
    import textwrap

    import torch

    cls = type(model)
    scope = sys.modules[cls.__module__].__dict__
    helpers = tuple(v for v in scope.values() if inspect.isfunction(v) and v.__module__ == cls.__module__)

    class WholeCalls(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return True

    try:
        graph = WholeCalls(autowrap_functions=helpers).trace(model)
        body = ast.parse(textwrap.dedent(inspect.getsource(cls.forward))).body[0].body
    except Exception as e:
        raise UsageError(f"{path}: its forward() cannot be traced to read its tensors ({first_line(e, 160)})") from None
    targets = [stmt.targets[0].id for stmt in body if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
               and isinstance(stmt.targets[0], ast.Name)]
    calls = [n for n in graph.nodes if n.op in ("call_function", "call_method", "call_module")]
    if len(calls) != len(targets) or len(set(targets)) != len(targets):
        raise UsageError(f"no tensor inside {path} corresponds to one inside the source: its forward() is not the one "
                         "modelport wrote (one call per variable), so its tensors cannot be named")
    for node in graph.nodes:  # out of the way first: a traced name may be a variable's
        node.name = f"__traced_{node.name}"
    for node, name in zip(calls, targets):
        node.name = name
    for node in graph.nodes:
        if node.name.startswith("__traced_"):
            node.name = node.name.removeprefix("__traced_")
    return torch.fx.GraphModule(model, graph)
