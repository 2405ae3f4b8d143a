"""Which tensor of the written PyTorch artifact holds each ONNX value: the ONNX -> PyTorch step's
tensor correspondence, recorded once at conversion (the manifest's `tensor_names`) so that
`modelport locate` can pair an ONNX source's tensors with the artifact's by name, exactly.

The builder knows which fx node computes each ONNX value (Builder.build keeps it in
`gm.meta["onnx_values"]`). What the artifact holds depends on how it is written:
- package: forward() is fx's code generation of that graph, whose local variables are the fx
  nodes' names, so the map is the builder's;
- exported_program: torch.export re-traces the graph into aten ops with names of its own
  (`conv2d_1`, `add`) and keeps no link to the nodes it came from. Exporting under
  `preserve_node_meta` with each node's name in its `custom` meta stamps every aten node with the
  fx node that made it (the stamp is saved in the .pt2). A converter's helper can make several
  aten nodes (Gemm: transpose, matmul, add), so the one holding the value is settled by running:
  the last stamped node whose value equals the fx node's on the example inputs.
TorchScript keeps neither names nor stamps: no map (locate says so; `--bisect` needs none).
"""

from __future__ import annotations

STAMP = "modelport_fx_node"  # the key in an aten node's meta["custom"]: the fx node that made it


def stamp(gm) -> None:
    """Put each computing fx node's name in its `custom` meta, which torch.export copies onto the
    aten nodes it traces from it when run under preserve_node_meta (export_stamped)."""
    for node in gm.graph.nodes:
        if node.op in ("call_function", "call_method", "call_module"):
            node.meta["custom"] = {**(node.meta.get("custom") or {}), STAMP: node.name}


def export_stamped(gm, examples, **kwargs):
    """torch.export.export of the builder's module with every aten node stamped (module docstring)."""
    import torch
    import torch.fx.traceback as fx_traceback

    stamp(gm)
    with fx_traceback.preserve_node_meta():
        return torch.export.export(gm, examples, strict=False, **kwargs)


def _node_values(module, examples) -> dict[str, object]:
    """Every node's value on the examples (tensors only), by node name."""
    import torch

    kept: dict[str, object] = {}

    class Keeper(torch.fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            if isinstance(result, torch.Tensor) and n.op != "get_attr":
                kept[n.name] = result.detach()
            return result

    with torch.no_grad():
        Keeper(module).run(*examples)
    return kept


def package_names(gm) -> list[list[str]]:
    """[ONNX value, forward() variable] for the package: the builder's own map."""
    return [[value, node] for value, node in (gm.meta.get("onnx_values") or {}).items()]


def exported_names(gm, ep, examples) -> list[list[str]]:
    """[ONNX value, aten node of the ExportedProgram] for each value whose node is settled by
    running both graphs on `examples` (module docstring). A value no stamped node equals is left
    out: locate then reports it without a counterpart rather than compare the wrong tensor."""
    import torch

    module = ep.module()
    stamped: dict[str, list[str]] = {}
    for node in module.graph.nodes:
        origin = (node.meta.get("custom") or {}).get(STAMP)
        if origin is not None and node.op == "call_function":
            stamped.setdefault(origin, []).append(node.name)
    if not stamped:
        return []
    try:
        ours, theirs = _node_values(gm, examples), _node_values(module, examples)
    except Exception:  # noqa: BLE001 -- the examples (zeros for integers) may be outside an op's domain
        return []  # (an integer Div by zero): no map then, and locate pairs by structure or bisects
    settled: dict[str, str] = {}
    for fx_name, candidates in stamped.items():
        want = ours.get(fx_name)
        if want is None:
            continue
        for name in reversed(candidates):
            got = theirs.get(name)
            if got is not None and got.shape == want.shape and got.dtype == want.dtype and _same(got, want, torch):
                settled[fx_name] = name
                break
    return [[value, settled[node]] for value, node in (gm.meta.get("onnx_values") or {}).items() if node in settled]


def _same(a, b, torch) -> bool:
    """Bitwise-equal values, NaNs in the same places counting as equal (the same kernels ran)."""
    if a.is_floating_point() or a.is_complex():
        return bool(torch.equal(torch.isnan(a), torch.isnan(b))) and bool(torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)))
    return bool(torch.equal(a, b))
