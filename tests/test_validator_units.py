"""Unit tests for the parity pieces of `modelport validate`: presets, metrics, reports.

Real numpy arrays, no mocks: each test builds the kind of difference a broken conversion makes
(perturbed weights, a transposed or swapped output, NaN) and checks the verdict and reason.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from modelport.errors import UsageError
from modelport.validators.metrics import compare_output, merge_samples
from modelport.validators.reports import markdown, render_terminal, write_json, write_junit, write_markdown
from modelport.validators.results import CandidateResult, Tolerance, ValidationReport
from modelport.validators.tolerances import PRESETS, describe, fmt_num, parse_tolerance_overrides, tolerance_for

FP32 = PRESETS["fp32"]
INT8 = PRESETS["int8"]


def rng(seed=0):
    return np.random.default_rng(seed)


def cmp(ref, got, tol=FP32, name="y"):
    return compare_output(ref, got, tol, output=name, candidate_output=name)


# ---------------------------------------------------------------- metrics


def test_identical_passes_fp32():
    x = rng().standard_normal((4, 10)).astype(np.float32)
    r = cmp(x, x.copy())
    assert r.passed and r.reason == "ok"
    assert r.max_abs == 0 and r.cosine == pytest.approx(1.0) and r.out_of_tolerance == 0 and r.top1 == 1.0
    assert r.severity == 0 and r.min_passing_atol == 0


def test_reordered_float_ops_pass_fp32():
    x = rng().standard_normal((8, 512)).astype(np.float32)
    w = rng(1).standard_normal((512, 64)).astype(np.float32)
    ref = x @ w
    got = (x.astype(np.float64) @ w.astype(np.float64)).astype(np.float32)  # another summation order
    assert cmp(ref, got).passed


def test_perturbation_1e2_fails_fp32():
    x = rng().standard_normal((4, 100)).astype(np.float32)
    r = cmp(x, x + 1e-2)
    assert not r.passed and "out of tolerance" in r.reason and r.reason.startswith("max abs")
    assert r.out_of_tolerance > 0.5 and r.severity > 1


def test_nan_in_candidate_fails():
    x = rng().standard_normal((3, 5)).astype(np.float32)
    got = x.copy()
    got[0, :2] = np.nan
    r = cmp(x, got)
    assert not r.passed and r.reason == "NaN in candidate (2 elements)"
    assert r.nan_count == 2 and math.isinf(r.severity)


def test_inf_in_candidate_fails():
    x = np.ones((2, 3), np.float32)
    got = x.copy()
    got[1, 1] = np.inf
    r = cmp(x, got)
    assert not r.passed and r.reason.startswith("Inf in candidate") and r.inf_count == 1


def test_nan_in_both_same_positions_passes():
    x = rng().standard_normal((3, 5)).astype(np.float32)
    x[1, 2] = np.nan
    x[2, 0] = -np.inf
    r = cmp(x, x.copy())
    assert r.passed, r.reason
    assert r.nan_count == 1 and r.inf_count == 1 and r.max_abs == 0


def test_nan_in_reference_only_fails():
    x = np.ones((2, 2), np.float32)
    ref = x.copy()
    ref[0, 0] = np.nan
    r = cmp(ref, x)
    assert not r.passed and "reference" in r.reason


def test_shape_mismatch_fails_without_metrics():
    r = cmp(np.zeros((1, 10), np.float32), np.zeros((1, 5), np.float32))
    assert not r.passed and r.reason == "shape [1, 5] != reference [1, 10]"
    assert r.max_abs is None and r.cosine is None and math.isinf(r.severity)
    assert r.shape_ref == [1, 10] and r.shape_got == [1, 5]


def test_transposed_square_output_fails():
    x = rng().standard_normal((6, 6)).astype(np.float32)
    r = cmp(x, x.T.copy())
    assert not r.passed and "out of tolerance" in r.reason


def test_swapped_outputs_fail():
    a = rng(1).standard_normal((2, 8)).astype(np.float32)
    b = rng(2).standard_normal((2, 8)).astype(np.float32)
    assert not compare_output(a, b, FP32, output="a", candidate_output="b", mapping="shape").passed
    assert not compare_output(b, a, FP32, output="b", candidate_output="a", mapping="shape").passed


def test_near_zero_reference_does_not_blow_max_rel():
    ref = np.array([1e-12, 1.0, 2.0, -3.0], np.float64)
    got = ref + 1e-7
    r = cmp(ref, got)
    # eps = 1e-6 * max(1, 3) = 3e-6, so the 1e-12 element gives 1e-7 / 3e-6, not 1e5
    assert r.max_rel == pytest.approx(1e-7 / 3e-6)
    assert r.passed


def test_dtype_difference_alone_is_not_a_failure():
    x = rng().standard_normal((2, 4)).astype(np.float32)
    r = cmp(x, x.astype(np.float64))
    assert r.passed and r.dtype_ref == "float32" and r.dtype_got == "float64"


def test_int8_noisy_logits_pass_permuted_classes_fail():
    logits = rng().standard_normal((64, 10)).astype(np.float32) * 4
    noisy = logits + rng(1).standard_normal(logits.shape).astype(np.float32) * 0.05
    ok = cmp(logits, noisy, INT8)
    assert ok.passed, ok.reason
    assert ok.top1 >= 0.9 and ok.top5 == 1.0 and ok.cosine > 0.98 and ok.out_of_tolerance is None

    perm = np.roll(np.arange(10), 3)  # every class moves: a wrong class order in the converted head
    bad = cmp(logits, logits[:, perm], INT8)
    assert not bad.passed and bad.top1 < 0.5 and bad.reason.startswith("cosine")


def test_int8_top1_only_failure():
    ref = np.array([[1.0, 0.99], [0.99, 1.0]] * 5, np.float32)  # near ties: cosine stays ~1
    got = ref[:, ::-1].copy()
    r = cmp(ref, got, Tolerance("int8", None, None, min_cosine=0.9, min_top1=0.9))
    assert not r.passed and r.reason.startswith("top-1 agreement") and r.top1 == 0.0


def test_classifier_like_nchw_1x1():
    x = rng().standard_normal((3, 7, 1, 1)).astype(np.float32)
    assert cmp(x, x).top1 == 1.0
    assert cmp(x.reshape(3, 1, 1, 7), x.reshape(3, 1, 1, 7)).top1 == 1.0
    assert cmp(x.reshape(3, 7, 1), x.reshape(3, 7, 1)).top1 is None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rtol", [0.0, 1e-3, 0.5])
def test_min_passing_atol_passes_when_used(seed, rtol):
    ref = rng(seed).standard_normal((5, 33)).astype(np.float32)
    got = ref + rng(seed + 100).standard_normal(ref.shape).astype(np.float32) * 0.03
    r = cmp(ref, got, Tolerance("fp32", 1e-6, rtol))
    assert not r.passed
    again = cmp(ref, got, Tolerance("fp32", r.min_passing_atol, rtol))
    assert again.passed, again.reason
    assert again.severity <= 1.0
    if r.min_passing_atol > 0:
        assert not cmp(ref, got, Tolerance("fp32", r.min_passing_atol * 0.99, rtol)).passed


def test_bool_and_int_compare_exactly():
    b = np.array([[True, False, True]])
    assert cmp(b, b.copy()).passed
    r = cmp(b, ~b)
    assert not r.passed and "exact match" in r.reason and r.tolerance.preset == "exact"
    i = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert cmp(i, i.astype(np.int32)).passed
    assert not cmp(i, i + 1, INT8).passed  # cosine rules do not apply: exact
    # an override on an integer output is honoured
    ov = parse_tolerance_overrides(("y:1",), ())
    assert cmp(i, i + 1, tolerance_for("y", "fp32", ov)).passed


def test_severity_orders_and_merge():
    x = rng().standard_normal((1, 10)).astype(np.float32)
    good = cmp(x, x)
    bad = cmp(x, x + 0.1)
    merged = merge_samples([good, bad, good])
    assert not merged.passed and merged.reason.startswith("max abs") and "1 of 3 samples failed" in merged.reason
    assert merged.max_abs == bad.max_abs and merged.severity == bad.severity
    assert merged.mean_abs == pytest.approx(bad.mean_abs / 3)
    assert merge_samples([good, good]).passed


def test_merge_judges_top1_over_all_rows():
    # ten batch-of-1 samples, one with a flipped decision: 90% agreement overall passes int8
    samples = []
    for k in range(10):
        ref = np.array([[2.0, 1.0, 0.5]], np.float32)
        got = ref.copy() if k else np.array([[1.0, 1.01, 0.5]], np.float32)
        samples.append(cmp(ref, got, Tolerance("int8", None, None, min_cosine=0.9, min_top1=0.9)))
    assert not samples[0].passed and samples[0].reason.startswith("top-1")
    merged = merge_samples(samples)
    assert merged.passed, merged.reason
    assert merged.top1 == pytest.approx(0.9) and merged.severity <= 1.0
    two_bad = merge_samples([samples[0], samples[0]] + samples[2:])
    assert not two_bad.passed and two_bad.reason.startswith("top-1 agreement 80.0%")


# ---------------------------------------------------------------- tolerances


def test_presets():
    assert (FP32.atol, FP32.rtol) == (1e-4, 1e-3)
    assert PRESETS["fp16"].min_cosine == 0.999
    assert (INT8.atol, INT8.rtol, INT8.min_cosine, INT8.min_top1) == (None, None, 0.98, 0.9)
    assert tolerance_for("y", "bf16").preset == "fp32"
    assert describe(FP32) == "atol 1e-4 rtol 1e-3" and describe(INT8) == "cos>=0.98 top1>=0.9"


def test_parse_overrides():
    ov = parse_tolerance_overrides(("1e-3", "logits:2e-3", "a:b:1e-5"), ("0.01",))
    assert ov == (1e-3, 0.01, {"logits": 2e-3, "a:b": 1e-5}, {})
    assert ov.per_output_atol["a:b"] == 1e-5
    assert parse_tolerance_overrides((), ()) == (None, None, {}, {})


@pytest.mark.parametrize("atol,rtol,needle", [
    (("abc",), (), "--atol 'abc'"),
    (("x:abc",), (), "--atol 'x:abc'"),
    ((), ("-1e-3",), "negative"),
    (("1e-3", "2e-3"), (), "given twice"),
    ((), ("x:1", "x:2"), "given twice"),
    ((":1e-3",), (), "empty"),
    (("nan",), (), "finite"),
])
def test_parse_overrides_errors(atol, rtol, needle):
    with pytest.raises(UsageError) as e:
        parse_tolerance_overrides(atol, rtol)
    assert needle in e.value.message and "\n" not in e.value.message and e.value.exit_code == 2


def test_tolerance_for_applies_global_then_per_output():
    ov = parse_tolerance_overrides(("1e-2", "logits:1e-1"), ("a:b:0.5",))
    t = tolerance_for("logits", "fp32", ov)
    assert (t.atol, t.rtol, t.preset) == (1e-1, 1e-3, "fp32+atol")
    t = tolerance_for("a:b", "fp32", ov)
    assert (t.atol, t.rtol, t.preset) == (1e-2, 0.5, "fp32+atol+rtol")
    t = tolerance_for("other", "int8", parse_tolerance_overrides((), ("0.1",)))
    assert (t.atol, t.rtol, t.min_cosine, t.preset) == (0.0, 0.1, 0.98, "int8+rtol")
    assert tolerance_for("other", "int8", ov).atol == 1e-2
    assert PRESETS["int8"].atol is None  # presets are copied, never changed


def test_fmt_num():
    assert [fmt_num(x) for x in (None, 0, 3.2e-2, 1e-4, 1.234e-5, 0.5, 12345.0, 1e6, math.inf)] == \
        ["-", "0", "0.032", "1e-4", "1.23e-5", "0.5", "1.23e+04", "1e6", "inf"]
    assert fmt_num(0.00999999) == fmt_num(0.0100001) == "0.01"


# ---------------------------------------------------------------- reports


def make_report() -> ValidationReport:
    x = rng().standard_normal((2, 10)).astype(np.float32)
    ok = CandidateResult("out/m.onnx", "onnx", "onnxruntime", "cpu", "fp32", True,
                         outputs=[cmp(x, x, name="logits"), cmp(x[:, :3], x[:, :3], name="aux|x")])
    bad_outputs = [cmp(x, x + 1e-2, name="logits"), cmp(x, x, name="aux"),
                   cmp(np.zeros((1, 4)), np.zeros((1, 5)), name="shape[odd]")]
    bad = CandidateResult("out/m.tflite", "tflite", "litert", "cpu", "fp32", False, outputs=bad_outputs)
    err = CandidateResult("out/m_sm", "savedmodel", "tensorflow", "cpu", "fp32", False,
                          error="could not load: \x1b[31mboom\x1b[0m <tag>")
    return ValidationReport("m.pt", "pytorch", [ok, bad, err], seed=0, samples=1, device="cpu",
                            versions={"numpy": np.__version__}, notes=["cuda unavailable: ran on CPU"])


def test_render_terminal_shows_all_candidates():
    from rich.console import Console

    console = Console(record=True, width=250, color_system=None)
    render_terminal(make_report(), console=console)
    text = console.export_text()
    assert "1 of 3 candidates passed" in text
    assert "ERROR" in text and "boom" in text and "FAIL" in text and "PASS" in text
    assert "shape[odd]" in text  # user strings are escaped, not read as markup
    assert "cuda unavailable" in text
    # worst first within a candidate: the shape mismatch (inf) before the perturbed logits
    assert text.index("shape [1, 5] != reference [1, 4]") < text.index("max abs 0.01")


def test_write_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "sub" / "report.json"
    write_json(make_report(), path)
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert data["passed"] is False and len(data["candidates"]) == 3
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp files left


def test_junit_xml_counts(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(make_report(), path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite.get("name") == "modelport validate"
    cases = suite.findall("testcase")
    assert len(cases) == 2 + 3 + 1
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "2", "1")
    assert len(suite.findall("testcase/failure")) == 2 and len(suite.findall("testcase/error")) == 1
    run = [c for c in cases if c.get("name") == "run"][0]
    assert "\x1b" not in run.find("error").text
    assert run.get("classname") == "out/m_sm" and "boom" in run.find("error").get("message")
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failed} == {"logits", "shape[odd]"}
    assert "max abs" in failed[0].find("failure").text or "max abs" in failed[1].find("failure").text


def test_markdown_and_step_summary(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = make_report()
    md = markdown(report)
    assert "✅" in md and "❌" in md and "1 of 3 candidates passed" in md
    assert "aux\\|x" in md and "&lt;tag>" in md and "\x1b" not in md
    header = [line for line in md.splitlines() if line.startswith("| candidate")][0]
    rows = [line for line in md.splitlines() if line.startswith("| out/")]
    assert len(rows) == 6 and all(r.replace("\\|", "").count("|") == header.count("|") for r in rows)
    write_markdown(report, tmp_path / "r.md")
    write_markdown(report, tmp_path / "r.md")
    assert (tmp_path / "r.md").read_text() == md
    text = summary.read_text()
    assert text.startswith("earlier step\n") and text.count("1 of 3 candidates passed") == 2


def test_markdown_without_step_summary(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_markdown(make_report(), tmp_path / "r.md")
    assert (tmp_path / "r.md").exists()


def test_the_fp16_presets_atol_is_relative_to_the_outputs_magnitude():
    """Half precision keeps ~3 significant digits of what it computes: a logit near 0 in an output
    whose largest value is 14.3 carries rounding of that size (measured on a trained CNN's fp16
    ONNX: 0.016-0.021 off where |ref| was 0.09-0.8). The preset's atol is scaled by max(1, max|ref|);
    one given by hand stays absolute, and a real fault (0.38) still fails."""
    from modelport.validators.metrics import compare_output
    from modelport.validators.tolerances import parse_tolerance_overrides, tolerance_for

    ref = np.array([[14.3, 0.2, -3.0, 0.5]], np.float32)
    rounded = ref + np.array([[0.01, 0.02, -0.015, 0.021]], np.float32)
    fp16 = tolerance_for("y", "fp16")
    ok = compare_output(ref, rounded, fp16, output="y", candidate_output="y")
    assert ok.passed, ok.reason
    hand = compare_output(ref, rounded, tolerance_for("y", "fp16", parse_tolerance_overrides(("0.01",), ())),
                          output="y", candidate_output="y")
    assert not hand.passed and "atol 0.01 +" in hand.reason, hand.reason
    fault = compare_output(ref, ref + np.array([[0, 0.38, 0, 0]], np.float32), fp16, output="y", candidate_output="y")
    assert not fault.passed and "(atol 0.01 x max |ref| 14.3)" in fault.reason, fault.reason
