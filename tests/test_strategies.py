"""Strategies: each edge's ordered ways to convert, the search that tries them, and the passes they use.

The search (modelport/pipeline/attempts.py) is tested with stand-in edges and validators, so every
path through it (first success, a failed conversion, a failed parity, backtracking, nothing works)
is exercised in milliseconds; the ONNX passes (fold, decompose) against ONNX Runtime; and the whole
thing through the CLI on small models built to hit each known library limitation (trap 10, 11).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli
from modelport.converters.job import EdgeResult
from modelport.converters.planner import plan
from modelport.converters.strategies import STRATEGIES, parse_forced, plan_strategies
from modelport.errors import ConversionError, NoStrategyHelps, NotApplicable, UnavailableError, UsageError
from modelport.pipeline.attempts import MAX_ATTEMPTS, StrategySearch
from modelport.types import Format, IOMap, TensorMapping

MODELS = str(FIXTURES / "models.py")


# --- --strategy --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["onnx->savedmodel=tf_converter", "onnx-savedmodel=tf_converter",
                                  "onnx_to_savedmodel=tf_converter", "onnx:savedmodel=tf_converter"])
def test_strategy_flag_spellings_name_one_edge(text):
    assert parse_forced([text]) == {"onnx->savedmodel": "tf_converter"}


@pytest.mark.parametrize("text, fragment", [
    ("onnx-savedmodel", "expected EDGE=NAME"),
    ("onnx-savedmodel=bogus", "no strategy 'bogus' (choose from flatbuffer_direct"),
    ("savedmodel-tflite=x", "has one way only"),
])
def test_strategy_flag_errors_name_the_choices(text, fragment):
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        parse_forced([text])


def test_strategy_given_twice_is_refused():
    with pytest.raises(UsageError, match="twice"):
        parse_forced(["pytorch-onnx=dynamo", "pytorch->onnx=torchscript"])


def test_plan_strategies_forced_fallback_and_single():
    assert plan_strategies("pytorch->onnx", {}, True) == ["dynamo", "torchscript"]
    assert plan_strategies("pytorch->onnx", {}, False) == ["dynamo"]
    assert plan_strategies("onnx->tflite", {"onnx->tflite": "fold"}, True) == ["fold"]
    assert plan_strategies("savedmodel->tflite", {}, True) == ["default"]
    assert STRATEGIES["onnx->savedmodel"][0].name == "flatbuffer_direct"  # today's conversion stays first


# --- the search, with stand-in edges -------------------------------------------------------------

def _identity_result():
    return EdgeResult(IOMap([TensorMapping("x", "x")], [TensorMapping("y", "y")]), "stand-in")


class Recorder:
    """Stand-in edges and validator: `fails` maps (edge, strategy) to an exception, `bad` holds the
    (step, strategy chain) whose artifact fails parity."""

    def __init__(self, fails=None, bad=()):
        self.fails, self.bad, self.runs, self.validations = fails or {}, set(bad), [], []

    def run_edge(self, edge, strategy, src, fmt, flavor, out, io_map):
        self.runs.append((edge.name, strategy))
        error = self.fails.get((edge.name, strategy))
        if error is not None:
            raise error
        open(out, "w").write(strategy)
        return _identity_result(), {"runtime": "stand-in"}, 0.01, None

    def validate(self, artifacts):
        self.validations.append([p for p, _, _ in artifacts])
        return [{"path": p, "passed": open(p).read() not in self.bad, "outputs": [
            {"output": "y", "passed": open(p).read() not in self.bad, "reason": "max abs 0.5 > atol"}]}
            for p, _, _ in artifacts]


def _search(tmp_path, recorder, route=None, strategies=None, validate=True):
    route = route or plan(Format.PYTORCH, Format.TFLITE)
    strategies = strategies or [plan_strategies(e.name, {}, True) for e in route]
    return StrategySearch(route, strategies, recorder.run_edge, recorder.validate if validate else None,
                          str(tmp_path)).run("model.py:m", Format.PYTORCH, "callable")


def test_first_strategies_succeeding_cost_one_run_per_step_and_one_validation(tmp_path):
    rec = Recorder()
    found = _search(tmp_path, rec)
    assert rec.runs == [("pytorch->onnx", "dynamo"), ("onnx->tflite", "flatbuffer_direct")]
    assert len(rec.validations) == 1 and len(rec.validations[0]) == 2  # every artifact of the route, once
    assert found.passed and [link.strategy for link in found.chain] == ["dynamo", "flatbuffer_direct"]
    assert [a.outcome for a in found.attempts] == ["converted", "converted"]


def test_artifacts_judged_by_their_own_workers_are_not_validated_again(tmp_path):
    """run_edge may return the worker's own verdict (issue 14): a pass is kept, and only an
    artifact left unjudged (a later step's failure, to be judged again with the source) reaches
    the validation worker; its verdict then decides the search as before."""
    rec = Recorder(bad={"flatbuffer_direct"})

    def run_edge(edge, strategy, src, fmt, flavor, out, io_map):
        result, smoke, seconds, _ = Recorder.run_edge(rec, edge, strategy, src, fmt, flavor, out, io_map)
        judged = edge.name == "pytorch->onnx" or strategy != "flatbuffer_direct"
        return result, smoke, seconds, {"path": out, "passed": True, "outputs": []} if judged else None

    rec.run_edge = run_edge
    found = _search(tmp_path, rec)
    assert [link.strategy for link in found.chain] == ["dynamo", "fold"]
    assert [[os.path.basename(os.path.dirname(p)) for p in v] for v in rec.validations] == [["attempt2"]]
    assert next(a for a in found.attempts if a.strategy == "flatbuffer_direct").outcome == "parity failed"


def test_a_failed_conversion_tries_the_next_strategy_and_records_why(tmp_path):
    rec = Recorder(fails={("onnx->tflite", "flatbuffer_direct"): ConversionError("onnx->tflite: Loop WHILE lowering"),
                          ("onnx->tflite", "fold"): NotApplicable("no Sequence/Loop/If construct to fold")})
    found = _search(tmp_path, rec)
    assert [link.strategy for link in found.chain] == ["dynamo", "decompose"]
    rows = [(a.strategy, a.outcome, a.reason) for a in found.attempts if a.edge == "onnx->tflite"]
    assert rows == [("flatbuffer_direct", "failed", "Loop WHILE lowering"),
                    ("fold", "skipped", "no Sequence/Loop/If construct to fold"), ("decompose", "converted", "")]
    assert found.attempts[-1].after == ["dynamo"]


def test_a_parity_failure_retries_that_step_only(tmp_path):
    rec = Recorder(bad={"flatbuffer_direct"})
    found = _search(tmp_path, rec)
    assert found.passed and [link.strategy for link in found.chain] == ["dynamo", "fold"]
    assert rec.runs.count(("pytorch->onnx", "dynamo")) == 1  # the passing ONNX step is not redone
    assert len(rec.validations[1]) == 1  # only the new artifact is validated again
    failed = next(a for a in found.attempts if a.strategy == "flatbuffer_direct")
    assert failed.outcome == "parity failed" and "max abs 0.5" in failed.reason


def test_an_exhausted_step_sends_the_search_back_to_the_step_before(tmp_path):
    fails = {("onnx->tflite", s.name): ConversionError("nope") for s in STRATEGIES["onnx->tflite"]}
    rec = Recorder()

    def run_edge(edge, strategy, src, fmt, flavor, out, io_map):  # the TorchScript ONNX converts everywhere
        if edge.name == "onnx->tflite" and open(src).read() == "dynamo":
            rec.runs.append((edge.name, strategy))
            raise fails[(edge.name, strategy)]
        return Recorder.run_edge(rec, edge, strategy, src, fmt, flavor, out, io_map)

    rec.run_edge = run_edge
    found = _search(tmp_path, rec)
    assert [link.strategy for link in found.chain] == ["torchscript", "flatbuffer_direct"]
    dynamo = found.attempts[0]
    assert dynamo.outcome == "abandoned" and "onnx->tflite" in dynamo.reason


def test_nothing_passing_keeps_the_first_chain_that_converted(tmp_path):
    rec = Recorder(bad={s.name for s in STRATEGIES["onnx->tflite"]})
    found = _search(tmp_path, rec)
    assert found.passed is False
    assert [link.strategy for link in found.chain] == ["dynamo", "flatbuffer_direct"]
    assert len(found.attempts) <= MAX_ATTEMPTS


def test_every_strategy_failing_raises_with_the_table_of_attempts(tmp_path):
    route = plan(Format.ONNX, Format.SAVEDMODEL)
    rec = Recorder(fails={("onnx->savedmodel", s.name): ConversionError(f"onnx->savedmodel: {s.name} broke")
                          for s in STRATEGIES["onnx->savedmodel"]})
    with pytest.raises(ConversionError, match="every strategy failed") as err:
        _search(tmp_path, rec, route=route)
    assert [a["strategy"] for a in err.value.attempts] == [s.name for s in STRATEGIES["onnx->savedmodel"]]
    assert all(a["outcome"] == "failed" for a in err.value.attempts)


def test_a_single_strategy_keeps_its_own_error_and_exit_code(tmp_path):
    route = plan(Format.SAVEDMODEL, Format.TFLITE)
    rec = Recorder(fails={("savedmodel->tflite", "default"): UnavailableError("tensorflow is not installed")})
    with pytest.raises(UnavailableError, match="^tensorflow is not installed$"):
        _search(tmp_path, rec, route=route)


def test_a_cause_no_strategy_changes_leaves_the_rest_of_the_step_untried(tmp_path):
    route = plan(Format.PYTORCH, Format.TFLITE)
    cause = NoStrategyHelps("onnx->tflite: input 'k' decides operand 1 ('k') of TopK")
    rec = Recorder()

    def run_edge(edge, strategy, src, fmt, flavor, out, io_map):  # the TorchScript exporter's ONNX has no such input
        if edge.name == "onnx->tflite" and open(src).read() == "dynamo":
            rec.runs.append((edge.name, strategy))
            raise cause
        return Recorder.run_edge(rec, edge, strategy, src, fmt, flavor, out, io_map)

    rec.run_edge = run_edge
    found = _search(tmp_path, rec, route=route)
    assert rec.runs.count(("onnx->tflite", "flatbuffer_direct")) == 2  # once after each exporter
    after_dynamo = [a for a in found.attempts if a.edge == "onnx->tflite" and a.after == ["dynamo"]]
    assert [a.outcome for a in after_dynamo] == ["failed"] + ["not tried"] * (len(STRATEGIES["onnx->tflite"]) - 1)
    assert "flatbuffer_direct met is in the model" in after_dynamo[1].reason
    assert [link.strategy for link in found.chain] == ["torchscript", "flatbuffer_direct"]  # the step before still backtracks


def test_without_validation_the_first_converting_chain_wins(tmp_path):
    rec = Recorder(bad={"flatbuffer_direct"})
    found = _search(tmp_path, rec, validate=False)
    assert found.passed is None and [link.strategy for link in found.chain] == ["dynamo", "flatbuffer_direct"]


# --- the ONNX passes ---------------------------------------------------------------------------------

def _run(model, feed):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feed)


def _index_loop_model():
    """x (1, 6) -> Gather(x, indices) where indices come from a SequenceEmpty + Loop over static
    values, the nodes deliberately out of order (as the dynamo exporter leaves them)."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [helper.make_node("Mul", ["i", "two"], ["j"]),
         helper.make_node("SequenceInsert", ["seq_in", "j"], ["seq_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("seq_in", TensorProto.INT64, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_sequence_value_info("seq_out", TensorProto.INT64, None)])
    nodes = [
        helper.make_node("Gather", ["x", "indices"], ["y"], axis=1),
        helper.make_node("ConcatFromSequence", ["seq_final"], ["indices"], axis=0, new_axis=1),
        helper.make_node("Loop", ["trips", "", "seq"], ["seq_final"], body=body),
        helper.make_node("SequenceEmpty", [], ["seq"], dtype=TensorProto.INT64),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Gather", ["x_shape", "zero"], ["trips_raw"], axis=0),
        helper.make_node("Add", ["trips_raw", "two"], ["trips"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(2, np.int64), "two"),
                               numpy_helper.from_array(np.array(0, np.int64), "zero")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_fold_removes_a_static_loop_and_sequence_and_keeps_the_numbers():
    from modelport.converters.onnx_prep import fold_static, has_static_constructs, topological

    model = _index_loop_model()
    x = np.arange(6, dtype=np.float32).reshape(1, 6)
    expected = _run(model, {"x": x})[0]
    assert expected.tolist() == [[0.0, 2.0, 4.0]]
    assert [n.op_type for n in topological(model.graph)][:1] == ["SequenceEmpty"]
    folded, count = fold_static(model)
    assert count == 6 and not has_static_constructs(folded)
    assert [n.op_type for n in folded.graph.node] == ["Gather"]
    np.testing.assert_array_equal(_run(folded, {"x": x})[0], expected)


def test_fold_is_not_applicable_without_static_constructs(tmp_path):
    from onnx import TensorProto, helper

    from modelport.converters.onnx_prep import has_static_constructs

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    assert not has_static_constructs(helper.make_model(graph))


def _single_node_model(node, inits, shape):
    from onnx import TensorProto, helper

    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("kernel, stride, dilation, pad, bias", [
    (3, 1, 1, 1, True), (3, 2, 1, 1, False), (5, 2, 1, 2, True), (3, 1, 2, 2, True), (3, 2, 1, 0, True)])
def test_depthwise_conv_decomposes_to_the_same_numbers(kernel, stride, dilation, pad, bias):
    from onnx import helper, numpy_helper

    from modelport.converters.onnx_rewrites import decompose, decomposable

    rng = np.random.default_rng(kernel * 10 + stride)
    c = 6
    inits = [numpy_helper.from_array(rng.standard_normal((c, 1, kernel, kernel)).astype(np.float32), "w")]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), "b"))
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], group=c, strides=[stride] * 2,
                            dilations=[dilation] * 2, pads=[pad] * 4, kernel_shape=[kernel] * 2)
    model = _single_node_model(node, inits, [1, c, 11, 13])
    x = rng.standard_normal((1, c, 11, 13)).astype(np.float32)
    expected = _run(model, {"x": x})[0]
    assert decomposable(model) == ["depthwise Conv"]
    assert decompose(model) == {"depthwise Conv": 1}
    assert "Conv" not in [n.op_type for n in model.graph.node] and "w" not in [i.name for i in model.graph.initializer]
    np.testing.assert_allclose(_run(model, {"x": x})[0], expected, atol=1e-5)


def test_grouped_but_not_depthwise_conv_is_left_alone():
    from onnx import helper, numpy_helper

    from modelport.converters.onnx_rewrites import decompose

    w = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "w")
    model = _single_node_model(helper.make_node("Conv", ["x", "w"], ["y"], group=2, kernel_shape=[3, 3]), [w],
                               [1, 4, 8, 8])
    assert decompose(model) == {} and [n.op_type for n in model.graph.node] == ["Conv"]


def _uneven_split_model(path=None):
    """Split-18 with only num_outputs, 25 channels in 3 (9, 9, 7): onnx2tf writes a custom ONNX_SPLIT."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 25, 8, 8])
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1, c, 8, 8]) for i, c in enumerate((9, 9, 7))]
    nodes = [helper.make_node("Split", ["x"], ["a0", "a1", "a2"], axis=1, num_outputs=3)]
    nodes += [helper.make_node("Relu", [f"a{i}"], [f"y{i}"]) for i in range(3)]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], outs), opset_imports=[helper.make_opsetid("", 18)])
    if path is not None:
        onnx.save(model, str(path))
    return model


def test_split_num_outputs_gets_explicit_sizes_with_the_same_numbers():
    from onnx import numpy_helper

    from modelport.converters.onnx_rewrites import decompose, decomposable

    model = _uneven_split_model()
    x = np.random.default_rng(0).standard_normal((1, 25, 8, 8)).astype(np.float32)
    expected = _run(model, {"x": x})
    assert decomposable(model) == ["Split with num_outputs"]
    assert decompose(model) == {"Split with num_outputs": 1}
    split = model.graph.node[0]
    assert not [a for a in split.attribute if a.name == "num_outputs"]
    sizes = next(i for i in model.graph.initializer if i.name == split.input[1])
    assert numpy_helper.to_array(sizes).tolist() == [9, 9, 7]  # ceil(25 / 3), the last one smaller
    for a, b in zip(_run(model, {"x": x}), expected):
        np.testing.assert_array_equal(a, b)


def test_uneven_split_reaches_tflite_by_decomposition(tmp_path):
    src = tmp_path / "split.onnx"
    _uneven_split_model(src)
    out = tmp_path / "split.tflite"
    r = run_cli("convert", src, "--to", "tflite", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    strategy, attempts = _attempts(f"{out}.modelport.json", "onnx->tflite")
    assert strategy == "decompose" and attempts[0] == ("flatbuffer_direct", "failed")


@pytest.mark.parametrize("op, attrs", [("HardSwish", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
                                       ("Gelu", {}), ("Gelu", {"approximate": "tanh"})])
def test_activation_decompositions_match_their_definitions(op, attrs):
    from onnx import helper

    from modelport.converters.onnx_rewrites import decompose

    model = _single_node_model(helper.make_node(op, ["x"], ["y"], **attrs), [], [64])
    x = np.linspace(-6, 6, 64, dtype=np.float32)
    expected = _run(model, {"x": x})[0]
    assert decompose(model) == {op: 1} and op not in [n.op_type for n in model.graph.node]
    np.testing.assert_allclose(_run(model, {"x": x})[0], expected, atol=1e-6)


# --- through the CLI, on models built to hit each library limitation -------------------------------

def _attempts(manifest_path, edge):
    data = json.loads(open(manifest_path).read())
    step = next(s for s in data["steps"] if s["edge"] == edge)
    return step["strategy"], [(a["strategy"], a["outcome"]) for a in step["attempts"]]


@pytest.mark.slow
def test_mobile_ops_reach_savedmodel_by_decomposition(tmp_path):
    """HardSwish and a depthwise conv: onnx2tf's SavedModel writer rejects both (trap 10); the
    decompose strategy writes a SavedModel that passes parity, and keeps its dynamic batch (the
    rewrites read C, H and W, never the batch), proven at a second size."""
    out = tmp_path / "mobile_savedmodel"
    r = run_cli("convert", f"{MODELS}:mobile_block", "--to", "savedmodel", "-o", str(out),
                "--input-shape", "image:batch=1,3,32,32", "--samples", "2")
    assert r.code == 0, r.stderr
    strategy, attempts = _attempts(f"{out}.modelport.json", "onnx->savedmodel")
    assert strategy == "decompose"
    assert attempts == [("flatbuffer_direct", "failed"), ("fold", "skipped"), ("decompose", "converted")]
    assert "strategy decompose, tried before it: flatbuffer_direct failed" in r.stdout
    step = next(s for s in json.loads(open(f"{out}.modelport.json").read())["steps"] if s["edge"] == "onnx->savedmodel")
    assert step["details"].get("dynamic_dims_kept") == ["batch"], step["details"]
    assert "dynamic dim batch proven at sizes 1, 3" in r.stdout


@pytest.mark.slow
def test_no_fallback_stops_at_the_first_strategy_with_its_table(tmp_path):
    out = tmp_path / "mobile_savedmodel"
    r = run_cli("convert", f"{MODELS}:mobile_block", "--to", "savedmodel", "-o", str(out),
                "--input-shape", "image:1,3,32,32", "--no-fallback", "--no-validate")
    assert r.code == 3
    assert "strategies tried:" in r.stderr and "flatbuffer_direct" in r.stderr and "decompose" not in r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
def test_forced_tf_converter_backend_writes_a_valid_savedmodel(tmp_path):
    out = tmp_path / "mobile_savedmodel"
    r = run_cli("convert", f"{MODELS}:mobile_block", "--to", "savedmodel", "-o", str(out),
                "--input-shape", "image:1,3,32,32", "--strategy", "onnx-savedmodel=tf_converter")
    assert r.code == 0, r.stderr
    assert _attempts(f"{out}.modelport.json", "onnx->savedmodel") == ("tf_converter", [("tf_converter", "converted")])


@pytest.mark.slow
def test_dynamo_index_loop_is_folded_for_tflite_and_pytorch(tmp_path):
    """Tiny ConvNeXt: the dynamo exporter's SequenceEmpty + Loop stops onnx2tf and torch.export
    (trap 11); the fold strategy removes it on both edges."""
    onnx_path = tmp_path / "convnext.onnx"
    r = run_cli("convert", f"{MODELS}:tiny_convnext", "--to", "onnx", "-o", str(onnx_path),
                "--input-shape", "x:1,3,32,32", "--strategy", "pytorch-onnx=dynamo")
    assert r.code == 0, r.stderr
    for target, out, edge in (("tflite", tmp_path / "convnext.tflite", "onnx->tflite"),
                              ("pytorch", tmp_path / "convnext.pt2", "onnx->pytorch")):
        r = run_cli("convert", str(onnx_path), "--to", target, "-o", str(out), "--samples", "2")
        assert r.code == 0, r.stderr
        strategy, attempts = _attempts(f"{out}.modelport.json", edge)
        assert strategy == "fold" and attempts[0][1] == "failed", attempts


def test_a_bad_strategy_is_refused_before_any_work(tmp_path):
    out = tmp_path / "m.tflite"
    r = run_cli("convert", f"{MODELS}:cnn", "--to", "tflite", "-o", str(out), "--input-shape", "image:1,3,32,32",
                "--strategy", "onnx-tflite=nope")
    assert_one_line_error(r, 2, "no strategy 'nope'")
    r = run_cli("convert", f"{MODELS}:cnn", "--to", "onnx", "-o", str(out), "--input-shape", "image:1,3,32,32",
                "--strategy", "onnx-tflite=fold")
    assert_one_line_error(r, 2, "not a step of the route pytorch -> onnx")
    assert not out.exists()


def test_conversion_leaves_the_source_file_untouched(tmp_path):
    """onnx2tf runs onnxsim on its input file in place (three times) and saves over it: given the
    user's file it rewrote it, and given an earlier step's artifact it changed what the next
    strategy read (a dynamo ONNX file came back broken for the fold strategy). modelport hands
    onnx2tf a private copy."""
    import hashlib

    source = tmp_path / "cnn.onnx"
    r = run_cli("convert", f"{MODELS}:cnn", "--to", "onnx", "-o", source, "--input-shape", "image:1,3,32,32",
                "--no-validate")
    assert r.code == 0, r.stderr
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    r = run_cli("convert", source, "--to", "tflite", "-o", tmp_path / "cnn.tflite", "--no-validate")
    assert r.code == 0, r.stderr
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


def _erf_gelu_model(path) -> None:
    """x @ W, then exact GELU as torch's exporters write it: / sqrt(2), Erf, + 1, * x, * 0.5."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(math.sqrt(2), np.float32), "sqrt2"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Div", ["h", "sqrt2"], ["d"]),
             helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["e", "one"], ["a"]),
             helper.make_node("Mul", ["h", "a"], ["m"]), helper.make_node("Mul", ["m", "half"], ["y"])]
    graph = helper.make_graph(nodes, "erf_gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.mark.slow
def test_exact_gelu_chain_reaches_savedmodel_by_decomposition(tmp_path):
    """onnx2tf fuses Div -> Erf -> Add -> Mul -> Mul back into a GELU op that its SavedModel writer
    lacks (timm's EdgeNeXt in the corpus); decompose writes the division as a product, which is not
    fused, and the SavedModel passes."""
    source = tmp_path / "erf_gelu.onnx"
    _erf_gelu_model(source)
    out = tmp_path / "erf_gelu_savedmodel"
    r = run_cli("convert", source, "--to", "savedmodel", "-o", out, "--samples", "2")
    assert r.code == 0, r.stderr
    strategy, attempts = _attempts(f"{out}.modelport.json", "onnx->savedmodel")
    assert attempts[0] == ("flatbuffer_direct", "failed") and strategy == "decompose", attempts
