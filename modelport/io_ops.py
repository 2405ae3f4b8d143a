"""Refuse, before running it, a model whose graph touches the outside world.

A SavedModel is a program: `serving_default` can read and write files (`tf.io.read_file`,
`tf.io.write_file`), list directories, write summaries or checkpoints, or memory-map a file by path
(ImmutableConst). The sandbox (modelport/workers/sandbox.py) confines what such a model can reach;
this scan refuses it outright, with exit 2 naming the operation, because a model meant for
inference has no reason to do any of it. `--allow-io-ops` (MODELPORT_ALLOW_IO_OPS=1) runs it
anyway, and the sandbox still confines it.

What is scanned is what runs: the signature's own graph and every function it calls (not the
SavedModel's checkpoint save/restore functions, which every model with variables has and which
TensorFlow runs itself to load the weights). TFLite files are scanned for Flex (TensorFlow) ops of
the same kinds; TorchScript and ExportedProgram files for the torch operators that take a file
name (aten::from_file, aten::save). Custom op libraries cannot come with a model: TensorFlow,
LiteRT and torch refuse an op they do not know, by name (torch.jit.load: "Unknown builtin op").
"""

from __future__ import annotations

import functools
import os

from modelport.errors import UsageError

ENV_ALLOW = "MODELPORT_ALLOW_IO_OPS"

# TensorFlow op types that read, write, list or map files, write summaries or checkpoints, or talk
# to other processes. Print/Assert write to the process's own stderr only and are not listed;
# PrintV2 to a file is caught by its attribute (below).
IO_OPS = {
    "files": ("ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "DeleteFile",
              "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
              "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2",
              "LMDBReader", "IdentityReader", "IdentityReaderV2"),
    "datasets reading or writing files": (
        "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2", "LMDBDataset", "ExperimentalLMDBDataset", "SqlDataset",
        "ExperimentalSqlDataset", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "MatchingFilesDataset",
        "ExperimentalMatchingFilesDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset", "SnapshotDataset",
        "SnapshotDatasetV2", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "CacheDataset", "CacheDatasetV2"),
    "checkpoints": ("SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints"),
    "summaries": ("CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
                  "WriteAudioSummary", "WriteImageSummary", "WriteHistogramSummary", "WriteRawProtoSummary",
                  "WriteGraphSummary", "ImportEvent", "FlushSummaryWriter"),
    "other processes": ("Rpc", "TryRpc", "RpcCall", "RpcClient", "RpcServer", "RpcServerStart",
                        "CollectiveReduce", "CollectiveReduceV2", "CollectiveReduceV3", "CollectiveGather",
                        "CollectiveGatherV2", "CollectiveBcastSend", "CollectiveBcastRecv",
                        "CollectiveBcastSendV2", "CollectiveBcastRecvV2", "CollectiveAllToAllV2",
                        "CollectiveAllToAllV3", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3",
                        "DebugNanCount", "DebugNumericSummary", "DebugNumericSummaryV2"),
}
KIND_OF = {op: kind for kind, ops in IO_OPS.items() for op in ops}


def allowed() -> bool:
    return os.environ.get(ENV_ALLOW, "").strip() not in ("", "0")


def _node_io(node) -> str | None:
    """The kind of outside-world access a NodeDef makes, or None."""
    if node.op in KIND_OF:
        return KIND_OF[node.op]
    if node.op == "PrintV2" and "output_stream" in node.attr:
        stream = node.attr["output_stream"].s.decode("utf-8", "replace")
        if stream.startswith("file://"):
            return "files (PrintV2 to a file)"
    return None


def graph_io_ops(graph_def) -> list[tuple[str, str, str]]:
    """(op, kind, where) for every such node in a GraphDef and the functions of its library that
    its nodes call, transitively (a function reached through any function-valued attribute: a call,
    a While's body, an If's branches)."""
    library = {f.signature.name: f for f in graph_def.library.function}
    found, seen, pending = [], set(), [("the signature", list(graph_def.node))]
    while pending:
        where, nodes = pending.pop()
        for node in nodes:
            kind = _node_io(node)
            if kind:
                found.append((node.op, kind, where))
            for value in node.attr.values():
                names = [value.func.name] if value.HasField("func") else []
                names += [f.name for f in value.list.func]
                for name in names:
                    if name in library and name not in seen:
                        seen.add(name)
                        pending.append((f"function {name}", list(library[name].node_def)))
    return found


def tflite_io_ops(path: str) -> list[tuple[str, str, str]]:
    """Flex (TensorFlow) ops of those kinds in a .tflite file: custom codes `Flex<Op>`."""
    from modelport.tflite_flatbuffer import custom_op_names

    try:
        names = custom_op_names(path)
    except Exception:  # truncated or not a flatbuffer: the converter or the runner says so (exit 2)
        return []
    out = []
    for name in names:
        op = name[len("Flex"):] if name.startswith("Flex") else name
        if op in KIND_OF:
            out.append((name, KIND_OF[op], "the model's operator codes"))
    return out


@functools.lru_cache(maxsize=1)
def _torch_file_ops() -> frozenset[str]:
    """The torch operators that take a file name: every schema with a `str` argument named like a
    path. Read from the registry rather than listed, so a new one is caught too; measured on torch
    2.14 it is aten::from_file (reads any file into a tensor: a TorchScript model given
    `torch.from_file("/etc/passwd", ...)` returns the bytes as its output) and aten::save."""
    import torch

    found = set()
    for schema in torch._C._jit_get_all_schemas():
        if any(a.name in ("filename", "file", "path", "filepath") and str(a.type) == "str" for a in schema.arguments):
            found.add(schema.name)
    return frozenset(found)


def _graph_kinds(graph) -> set[str]:
    """The operator names of a TorchScript graph, nested blocks (loops, branches) included."""
    kinds, pending = set(), [graph]
    while pending:
        block = pending.pop()
        for node in block.nodes():
            kinds.add(node.kind())
            pending.extend(node.blocks())
    return kinds


def torchscript_io_ops(module) -> list[tuple[str, str, str]]:
    """Such operators in every method of a loaded TorchScript module and its submodules (inlined,
    so that a call into a helper function is followed)."""
    file_ops = _torch_file_ops()
    found = []
    for name, sub in [("", module)] + list(module.named_modules())[1:]:
        for method_name in sub._c._method_names():
            method = getattr(sub, method_name, None)
            graph = getattr(method, "inlined_graph", None) or getattr(method, "graph", None)
            if graph is None:
                continue
            where = f"method {(name + '.') if name else ''}{method_name}"
            found += [(op, "files", where) for op in sorted(_graph_kinds(graph) & file_ops)]
    return found


def exported_program_io_ops(program) -> list[tuple[str, str, str]]:
    """Such operators among the call targets of an ExportedProgram's graphs (the subgraphs of
    control-flow operators included)."""
    file_ops = {op.split("::", 1)[1] for op in _torch_file_ops() if op.startswith("aten::")}
    found = []
    for module_name, gm in program.graph_module.named_modules():
        graph = getattr(gm, "graph", None)
        for node in (graph.nodes if graph is not None else ()):
            if node.op != "call_function":
                continue
            name = getattr(node.target, "name", None)  # an operator's "aten::from_file.default"; a function's none
            target = name() if callable(name) else str(node.target)
            base = target.split("::", 1)[-1].split(".", 1)[0]
            if base in file_ops:
                found.append((f"aten::{base}", "files", f"graph {module_name or 'forward'}"))
    return found


def refuse(path: str, found: list[tuple[str, str, str]]) -> None:
    """UsageError (exit 2) naming what the model does, unless allowed."""
    if not found or allowed():
        return
    op, kind, where = found[0]
    others = sorted({f[0] for f in found[1:]} - {op})
    more = f" (and {', '.join(others)})" if others else ""
    raise UsageError(f"{path}: the model calls {op}{more} in {where}, an operation on {kind}: refused, a model "
                     "for inference has no use for it (--allow-io-ops runs it anyway, confined by the sandbox)")
