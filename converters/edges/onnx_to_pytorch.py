"""onnx -> pytorch with modelport's own converter (converters/onnx_torch): an editable torch module.

The ONNX graph becomes a torch.fx GraphModule (initializers as named parameters and buffers),
which is then written as the user asked (--pytorch-format):
  exported_program (default, .pt2): torch.export.export + torch.export.save, loadable with
      torch.export.load(path).module();
  torchscript (.pt): torch.jit.trace of the module, loadable with torch.jit.load(path);
  package (a folder): readable model.py + weights.pt, needing torch only (onnx_torch/package.py).
Inputs keep their ONNX names; outputs are named output / output_0, output_1, ... as modelport names
a PyTorch model's outputs, mapped to the ONNX output names in the I/O map. Dynamic dims: the
package keeps them (its code computes shapes at run time); the ExportedProgram keeps them where
torch.export can (Dim.AUTO, without folding the shape arithmetic), else, like TorchScript, it
fixes them to the example sizes (--input-shape, else 1) with the shape arithmetic folded.
"""

from __future__ import annotations

import os

from modelport import __version__
from modelport.errors import ConversionError, NoStrategyHelps, NotApplicable, UsageError
from modelport.types import IOMap, TensorMapping, default_output_names
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.onnx_value_decided import value_decided
from modelport.converters.signatures import load_onnx, onnx_io

from modelport.converters.options import PYTORCH_FORMATS as FLAVORS


def _example_inputs(job: EdgeJob, src_io, open_dim: int = 1):
    """Example tensors: fixed dims as the model says, open ones from --input-shape, else `open_dim`."""
    import numpy as np
    import torch

    sizes = {o.name: o for o in job.options.inputs}
    out = []
    for spec in src_io.inputs:
        override = sizes.get(spec.name)
        shape = []
        for i, d in enumerate(spec.shape or []):
            if isinstance(d, int) and d >= 0:
                shape.append(d)
                continue
            ex = None
            if override is not None and override.example and i < len(override.example):
                ex = override.example[i] if override.example[i] is not None else None
                if ex is None and isinstance(override.shape[i], int):
                    ex = override.shape[i]
            shape.append(ex or open_dim)
        if spec.dtype.startswith("onnx:"):  # a type numpy lacks (int4, float8...): zeros of its torch dtype or carrier
            from modelport.converters.onnx_torch.dtypes import torch_dtype

            out.append(torch.zeros(shape, dtype=torch_dtype(int(spec.dtype[5:]))))
            continue
        dtype = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32")
        out.append(torch.from_numpy(np.zeros(shape, dtype=dtype) if dtype.kind != "f"
                                    else np.random.default_rng(0).standard_normal(shape).astype(dtype)))
    return tuple(out)


def _control_flow(model) -> list[str]:
    """If / Loop / Scan / SequenceMap anywhere in the model (subgraphs included), once each."""
    from modelport.converters.onnx_torch.builder import all_nodes
    from modelport.converters.onnx_torch.ops.control_flow import CONTROL_FLOW

    return list(dict.fromkeys(n.op_type for n in all_nodes(model.graph)
                              if n.op_type in CONTROL_FLOW and n.domain in ("", "ai.onnx")))


def _write(gm, flavor: str, examples, output: str, torch, package_info: dict, control_flow: list[str],
           model) -> tuple[str, list[list[str]] | None]:
    """(what wrote it, the artifact's tensor for each ONNX value where it keeps one: provenance.py)."""
    from modelport.converters.onnx_torch import provenance

    if flavor == "package":
        from modelport.converters.onnx_torch import package

        package.write(gm, output, **package_info)
        return f"torch.fx code generation, torch {torch.__version__}", provenance.package_names(gm)
    if flavor == "exported_program":
        try:
            ep = provenance.export_stamped(gm, examples)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            decided = value_decided(model)
            if decided:  # say why, in the model's terms, and do not send the user to TorchScript
                raise NoStrategyHelps(f"torch.export could not trace the converted module: {decided[0].describe()}, "
                                      "a branch, a trip count, a shape or a constant an ExportedProgram must know "
                                      f"when it is written; use --pytorch-format package ({first[:200]})") from None
            instead = "package" if control_flow else "package or torchscript"
            raise ConversionError(f"torch.export could not trace the converted module ({first[:300]}); "
                                  f"try --pytorch-format {instead}") from None
        torch.export.save(ep, output)
        return f"torch.export {torch.__version__}", provenance.exported_names(gm, ep, examples)
    if control_flow:
        # a branch or trip count decided by an input's values: no other preparation of the graph can
        # fold it, so the other strategies are not tried (measured: five strategies, 21 s, one answer)
        steered = [d for d in value_decided(model) if d.op in ("If", "Loop")]
        if steered:
            raise NoStrategyHelps(f"the model has control flow ({', '.join(control_flow)}) and {steered[0].describe()}: "
                                  "TorchScript tracing would keep only the example's branch and trip count, and "
                                  "torch.export cannot trace it either; use --pytorch-format package")
        raise ConversionError(f"the model has control flow ({', '.join(control_flow)}): TorchScript tracing would "
                              "keep only the branch and trip count of the example inputs; use --pytorch-format "
                              "package (or exported_program)")
    decided = value_decided(model)
    if decided:
        more = f" (and {len(decided) - 1} more)" if len(decided) > 1 else ""
        raise NoStrategyHelps(f"{decided[0].describe()}{more}: TorchScript tracing would freeze the example's value "
                              "there and give wrong shapes or results for any other; use --pytorch-format package")
    with torch.no_grad():
        try:
            traced = torch.jit.trace(gm, examples, check_trace=False)
        except Exception:  # tracing computes values: integer zeros can be outside an op's domain (a divisor)
            ones = tuple(torch.ones_like(t) if isinstance(t, torch.Tensor) and not t.is_floating_point()
                         and t.dtype != torch.bool else t for t in examples)
            traced = torch.jit.trace(gm, ones, check_trace=False)
    torch.jit.save(traced, output)
    return f"torch.jit.trace {torch.__version__}", None  # TorchScript keeps no names to map


def _folded(path: str, examples, src_io, notes: list[str], fix_shapes: bool = True, strategy: str = "onnxsim"):
    """The model with its shape arithmetic (Shape -> Gather -> Concat -> Reshape, as exporters write
    it) folded into constants for the example sizes: torch.export cannot trace a shape read from a
    tensor's values. With `fix_shapes` False (the package, which runs eagerly) dynamic dims stay
    dynamic and only constants are folded. The strategy names the pass (converters/onnx_prep.py);
    the default, onnxsim, gives the original model back when onnxsim cannot run on it."""
    import onnx

    from modelport.converters.onnx_prep import has_static_constructs, prepare
    from modelport.converters.onnx_rewrites import normalise_legacy_inputs

    model = onnx.load(path)
    normalise_legacy_inputs(model)
    fixed = {s.name: list(t.shape) for s, t in zip(src_io.inputs, examples)} if fix_shapes else None
    if strategy == "fold" and not has_static_constructs(model):
        raise NotApplicable("no Sequence/Loop/If construct to fold")
    if strategy not in ("onnxsim", "default"):
        model, what = prepare(model, strategy, fixed, skip_fuse_bn=True)
        notes.append(what)
        return model
    try:
        import onnxsim

        # BatchNormalization stays a layer of its own (onnxsim would fold it into the Conv before it):
        # the PyTorch model is for fine-tuning too, where batch statistics matter.
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=fixed, skip_fuse_bn=True)
    except Exception as e:  # onnxsim runs the model in ONNX Runtime, which may not know every op
        notes.append(f"shape arithmetic not folded (onnxsim: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__})")
        return onnx.load(path)
    if not ok:
        notes.append("shape arithmetic not folded (onnxsim could not validate its result)")
        return onnx.load(path)
    return simplified


def _dynamic_dims(src_io, job: EdgeJob | None = None) -> list[tuple[int, int]]:
    """(input index, axis) of every dim the ONNX model leaves open (a dim_param or unknown) and the
    user did not fix with a number in --input-shape."""
    fixed = {}
    for o in (job.options.inputs if job is not None else []):
        fixed[o.name] = {k for k, d in enumerate(o.shape or []) if isinstance(d, int)}
    return [(i, k) for i, spec in enumerate(src_io.inputs) for k, d in enumerate(spec.shape or [])
            if not (isinstance(d, int) and d >= 0) and k not in fixed.get(spec.name, set())]


def _export_dynamic(job: EdgeJob, src_io, notes: list[str], torch):
    """The model exported with its open dims kept dynamic (torch.export Dim.AUTO), traced at size 2
    where the user gave no size (export fixes dims traced at 0 or 1): (model, gm, examples), or
    None when torch.export cannot keep them (shape arithmetic read from tensor values), in which
    case the caller fixes them to the example sizes."""
    from torch.export import Dim

    from modelport.converters.onnx_torch import provenance, to_fx

    examples = _example_inputs(job, src_io, open_dim=2)
    model = _folded(job.source, examples, src_io, notes, fix_shapes=False, strategy=job.strategy)
    try:
        gm = to_fx(model).eval()
        arg_names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
        dims = _dynamic_dims(src_io, job)
        dynamic = {a: {k: Dim.AUTO for i2, k in dims if i2 == i} for i, a in enumerate(arg_names)}
        ep = provenance.export_stamped(gm, examples, dynamic_shapes=dynamic)
    except Exception as e:  # the static route below is the answer; say why in a note
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        notes.append(f"dynamic dims could not stay dynamic in torch.export ({first[:160]})")
        return None
    # Dim.AUTO lets torch.export fix a dim the model's code needs fixed: report what stayed open.
    placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    shapes = [placeholders[n].meta["val"].shape for n in ep.graph_signature.user_inputs]
    kept = [f"{src_io.inputs[i].name}[{k}]" for i, k in dims if not isinstance(shapes[i][k], int)]
    if not kept:
        notes.append("dynamic dims fixed by torch.export to the example sizes")
        return None
    torch.export.save(ep, job.output)
    notes.append("dynamic dims kept: " + ", ".join(kept))
    return model, gm, examples, provenance.exported_names(gm, ep, examples)


def convert(job: EdgeJob) -> EdgeResult:
    import torch

    from modelport.converters.onnx_torch import to_fx

    flavor = job.options.pytorch_format or "exported_program"
    if flavor not in FLAVORS:
        raise UsageError(f"--pytorch-format {flavor}: expected one of {', '.join(FLAVORS)}")
    load_onnx(job.source)  # a clear error for a file that is not a readable ONNX model
    src_io = onnx_io(job.source)
    notes: list[str] = []
    dynamic = None
    if flavor == "exported_program" and _dynamic_dims(src_io, job):
        dynamic = _export_dynamic(job, src_io, notes, torch)
    if dynamic is not None:
        model, gm, examples, tensor_names = dynamic
        library = f"torch.export {torch.__version__}, dynamic dims"
    else:
        examples = _example_inputs(job, src_io)
        model = _folded(job.source, examples, src_io, notes, fix_shapes=flavor != "package", strategy=job.strategy)
        gm = to_fx(model).eval()
    # The graph says how many outputs there are; running the module on the example inputs (zeros
    # for integers) to count them failed correct conversions whose ops reject those values
    # (an integer Div by zero), and the smoke run checks that the module runs anyway.
    n_out = len(src_io.outputs)
    # Placeholders are the ONNX input names made Python identifiers ('serving_default_image:0' ->
    # 'serving_default_image_0'): the names the artifact's inputs have.
    arg_names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    if dynamic is None:
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        package_info = {"source": job.source, "outputs": [o.name for o in src_io.outputs],
                        "inputs": [(a, list(s.shape or []), s.dtype) for a, s in zip(arg_names, src_io.inputs)],
                        "doc": f"{os.path.basename(job.source)} (ONNX opset {opset}) as PyTorch code, converted by "
                               f"modelport {__version__}."}
        library, tensor_names = _write(gm, flavor, examples, job.output, torch, package_info, _control_flow(model), model)
    names = default_output_names(n_out)
    io_map = IOMap(inputs=[TensorMapping(s.name, a, None, "name" if a == s.name else "name (made an identifier)")
                           for s, a in zip(src_io.inputs, arg_names)],
                   outputs=[TensorMapping(s.name, n, None, "position") for s, n in zip(src_io.outputs, names)])
    params = sum(p.numel() for p in gm.parameters())
    notes.insert(0, f"{len(list(gm.graph.nodes))} fx nodes, {params} parameters; written as {flavor}")
    if flavor != "package" and dynamic is None and _dynamic_dims(src_io):
        notes.append("dynamic dims fixed to the example sizes: " +
                     ", ".join(f"{s.name}={list(t.shape)}" for s, t in zip(src_io.inputs, examples)))
    details = {"flavor": flavor, "parameters": params,
               "example_inputs": {a: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                                  for a, t in zip(arg_names, examples)}}
    if tensor_names:  # [ONNX value, artifact tensor]: how modelport locate pairs them
        details["tensor_names"] = tensor_names
    return EdgeResult(io_map=io_map, converter=f"modelport onnx->torch ({library})", details=details, notes=notes)
