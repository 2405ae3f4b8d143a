"""`modelport locate`: the first tensor where a converted model diverges from its source.

The pieces, in the order the work flows (validators/locate/locate.py runs them):

- graphs.py: each model as a `TensorGraph`, its tensors in topological order with the op and the
  tensors that produce each (an ONNX graph, the FX graph torch.onnx exported from, a TFLite
  subgraph, a SavedModel signature frozen with its function inlined);
- correspondence.py: which source tensor each artifact tensor is (the dynamo exporter keeps FX
  node names as ONNX value names; onnx2tf's tensor correspondence report, kept in the manifest by
  the conversion, maps ONNX values to TFLite tensors; modelport's ONNX -> PyTorch builder records
  which .pt2 node or package variable holds each ONNX value; tf2onnx keeps TensorFlow's names); a
  multi-step route composes the maps, and a route that keeps no names is aligned by structure
  (weighted layers by their weights' shapes in op order); fused, folded and renamed ops are
  resolved from the graphs, never from the values;
- capture.py: the tensors' values on one input, in each runtime, without changing its numbers
  where it can be helped (ONNX Runtime in chunks of marked outputs, LiteRT with every tensor
  preserved and delegates off, an FX interpreter for PyTorch sources and for .pt2 and package
  artifacts, a pruned TensorFlow function);
- compare.py: each pair judged as `validate` judges an output (layouts settled by the shapes and,
  where they cannot tell, by running), and the divergences that no earlier divergence explains;
- local.py: each artifact layer cut out and run alone on the source's values, so its own error is
  told apart from what it inherits (`--mode local` for every layer; the accumulated mode for the
  divergences it reports), and `--repro`'s backend-test folder;
- results.py, reports.py and overlay.py: the report (JSON, the terminal) and a Model Explorer
  node-data overlay.

Like `validate`, the work runs in a confined worker (worker.py) when the sandbox is on.
"""
