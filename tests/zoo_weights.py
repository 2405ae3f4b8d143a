"""The ONNX model zoo's "light" networks with weights that make their outputs worth comparing.

The onnx package ships the nine networks with every weight tensor made by a ConstantOfShape node
filled with 0.02: each output channel of a layer equals every other, so every class of the output
gets the same score (1/1000 after the softmax) and a parity check cannot see a wrong layout, a
swapped channel or a wrong kernel. Worse, activations grow to ~7e9 (SqueezeNet), where the
logits are rounding noise and whether two runtimes agree depends on the CPU. Trap 14 of the design
notes, for real networks.

`with_random_weights` keeps each graph as it is and replaces those constants by seeded random
tensors, stored as initializers (and listed among the graph inputs, as IR 3 models, which these
are, store their weights): He-scaled normals for kernels, small centred normals for biases and
batch-norm shifts and means, positive values around 1 for batch-norm scales and variances. Random batch-norm
statistics do not normalise, so the logits of deep networks come out in the thousands and their
softmax one-hot, almost the same for every input; `well_conditioned` then centres the
classifier's last layer on a few sample inputs and scales it so that the logits have a standard
deviation of about 2: the softmax spreads over the classes and moves with the input.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


# (op, input index) of the vectors drawn centred on 0: biases, batch-norm shifts and running means.
_CENTRED = {("Conv", 2), ("Gemm", 2), ("BatchNormalization", 2), ("BatchNormalization", 3), ("Add", 0), ("Add", 1)}


def with_random_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    role = {}  # tensor -> (consumer op, input index), looking through Unsqueeze (Mul/Add batch norms)
    for node in graph.node:
        for k, name in enumerate(node.input):
            role.setdefault(name, (node.op_type, k))
    for node in graph.node:
        if node.op_type == "Unsqueeze" and node.output[0] in role:
            role[node.input[0]] = role[node.output[0]]
    keep, weights = [], []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or not node.input or node.input[0] not in inits:
            keep.append(node)
            continue
        shape = [int(d) for d in numpy_helper.to_array(inits[node.input[0]])]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))
        elif role.get(node.output[0]) in _CENTRED:
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.uniform(0.5, 1.5, shape)
        weights.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
    used = {i for n in keep for i in n.input}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(keep)
    remaining = [i for i in out.graph.initializer if i.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(remaining + weights)
    names = {i.name for i in out.graph.initializer}
    dropped = {i.name for i in model.graph.initializer} - names
    inputs = [i for i in out.graph.input if i.name not in dropped]
    del out.graph.input[:]
    out.graph.input.extend(inputs + [helper.make_tensor_value_info(w.name, onnx.TensorProto.FLOAT, list(w.dims))
                                     for w in weights])
    onnx.checker.check_model(out)
    return out


# Ops through which scaling a layer's weights and bias scales the output by the same factor;
# the linear ones also let a shift of the bias shift the output.
_LINEAR = {"GlobalAveragePool", "AveragePool", "Flatten", "Reshape", "Dropout", "Squeeze"}
_HOMOGENEOUS = _LINEAR | {"Relu", "MaxPool"}
MAX_CONDITION = 1000.0


def well_conditioned(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], target_std: float = 2.0
                     ) -> onnx.ModelProto:
    """Make the logits of a final Softmax depend on the input and spread: centre them on their mean
    over `feeds` (random deep networks add a large input-independent part) where the layer that
    computes them is linear up to the Softmax and centring keeps them well conditioned, then scale
    that layer so that they have `target_std`."""
    import onnxruntime as ort

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    softmax = next((producer[o.name] for o in graph.output if producer.get(o.name) is not None
                    and producer[o.name].op_type == "Softmax"), None)
    if softmax is None:
        return model
    logits = softmax.input[0]
    layer, linear = producer[logits], True
    while layer.op_type in _HOMOGENEOUS:
        linear = linear and layer.op_type in _LINEAR
        layer = producer[layer.input[0]]
    assert layer.op_type in ("Conv", "Gemm"), layer.op_type
    inits = {i.name: i for i in graph.initializer}
    params = []
    for name in layer.input[1:]:
        while name not in inits and producer[name].op_type == "Reshape":  # a weight reshaped in the graph
            name = producer[name].input[0]
        params.append(name)

    def run() -> np.ndarray:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        probe.graph.output.append(helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        return np.stack([session.run([logits], feed)[0].reshape(-1) for feed in feeds])

    def update(name: str, value: np.ndarray) -> None:
        inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    values = run()
    centred = values - values.mean(axis=0)
    # Centring amplifies the input-dependent part by |logits| / its spread, and float rounding of the
    # input-independent part with it: past MAX_CONDITION, equal runtimes would disagree by > 1e-4.
    if linear and len(params) == 2 and np.abs(values).max() <= MAX_CONDITION * float(np.std(centred)):
        bias = numpy_helper.to_array(inits[params[1]])
        update(params[1], bias - values.mean(axis=0).reshape(bias.shape))
        values = run()
    factor = target_std / float(np.std(values))
    for name in params:
        update(name, numpy_helper.to_array(inits[name]) * factor)
    return model
