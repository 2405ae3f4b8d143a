"""A Model Explorer node-data overlay of a locate report (`--model-explorer FILE`).

ai-edge-model-explorer colours a graph from a JSON of node data: for one graph, `results` maps a
node id or one of a node's output tensor names to `{value, bgColor}`, and `thresholds` give the
colour of each value range (model_explorer/node_data_builder.py, GraphNodeData). Keys here are
the artifact's tensor names, so loading the file beside the artifact colours each op by its
output's severity (observed / allowed: at most 1 passes), the first divergence in red. A bisection
knows no artifact tensor (its probes are conversions of the source's prefixes): its overlay is
for the source's ONNX graph, each probed node keyed by its output, a prefix that did not convert
shown as failing.
"""

from __future__ import annotations

import math

from modelport.validators.locate.results import LocateReport

PASS, NEAR, FAIL, FIRST = "#c8e6c9", "#ffe082", "#ffab91", "#e53935"
LARGEST = 1e12  # JSON has no infinity: a shape mismatch or NaN is shown as this


def node_data(report: LocateReport) -> dict:
    results = {}
    bisected = report.bisection is not None
    for t in report.tensors:
        severity = (t.local or {}).get("severity") if report.mode == "local" and t.local else t.severity
        if severity is None and bisected and t.passed is False:  # the prefix did not convert
            severity = math.inf
        if severity is None:
            continue
        value = LARGEST if not math.isfinite(severity) else round(float(severity), 6)
        entry = {"value": value}
        if t.source == report.first:
            entry["bgColor"] = FIRST
        # locate's "#index" tells repeated TFLite names apart; Model Explorer names TensorFlow nodes without ":0"
        if bisected:
            results[t.source] = entry
            continue
        key = t.candidate.split("#")[0]
        results[key.rsplit(":", 1)[0] if report.artifact_format == "savedmodel" else key] = entry
    return {"results": results,
            "thresholds": [{"value": 1, "bgColor": PASS}, {"value": 10, "bgColor": NEAR},
                           {"value": LARGEST, "bgColor": FAIL}]}
