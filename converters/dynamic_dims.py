"""Keep a model's dynamic dims through onnx2tf when running proves they work (issue 16).

onnx2tf's flatbuffer_direct backend keeps a dynamic dim as -1 in the TFLite `shape_signature`
and None in the SavedModel signature when it is given the ONNX graph with its dims unfixed.
onnxsim then folds the shape arithmetic that the dynamo exporter emits (Shape -> Concat ->
Reshape) into constant shapes with -1, which is what both of onnx2tf's writers need. Measured on
the fixture CNN: without onnxsim the SavedModel writer fails ("Dimension size must be evenly
divisible by 16"). With it, the TFLite and the SavedModel run at batch 1, 3 and 4 within 3e-7 of
ONNX Runtime.

A dim onnx2tf says it kept is still only a claim. The tf_converter backend writes the same CNN
with batch None and it fails at every batch. So the artifact is validated here against the
source ONNX at its example size and at another size of each dim
(validators/dynamic_sizes.py), with the same validator `modelport validate` uses. Only a proven
artifact is kept. Otherwise the edge converts again with the dims fixed to the example sizes and
says why.
"""

from __future__ import annotations

from typing import Callable

from modelport.converters.job import EdgeJob
from modelport.types import IOMap

# onnx2tf strategies whose preparation can leave dims unfixed. decompose's rewrites need the static
# dims they read (a depthwise conv's C, H and W), not the batch: kept where the proof passes
# (MobileNet-v3, EfficientNet, ShuffleNet to SavedModel, whose depthwise convs need it). fold needs
# static shapes (converters/onnx_prep.py). tf_converter is slow (minutes on the corpus's large
# models), so a second try there would double it, and it failed the fixture CNN with batch kept.
KEEPING_STRATEGIES = ("flatbuffer_direct", "default", "decompose")

# The proof is a validation, and converters never import validators (tests/test_layering.py): the
# edge worker (modelport/pipeline/edge_worker.py) sets this to modelport.pipeline.dim_proof.prove
# before it runs an edge. None (an edge run some other way): the dims are fixed, as before.
Prover = Callable[[EdgeJob, IOMap], "tuple[bool, str]"]
prover: Prover | None = None
