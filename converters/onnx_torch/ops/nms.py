"""NonMaxSuppression (opset 10, 11): greedy per-(batch, class) box selection, as the ONNX reference
(op_non_max_suppression.py) computes it.

Covered: both box formats (center_point_box 0: corners [y1, x1, y2, x2] in either order, 1: [x_c,
y_c, w, h]), the optional max_output_boxes_per_class (omitted or empty: 0, so nothing is selected),
iou_threshold (omitted: 0) and score_threshold (omitted: no score filter). Ties in score keep the
lower box index first, and a box is suppressed only by an IoU strictly above the threshold with a
box of positive area, as in the reference.

The IoU matrix of each (batch, class) is computed with tensor ops; the greedy selection itself is a
Python loop over the boxes sorted by score (its result is data-dependent in size), so the module runs
eagerly and under torch.fx but is not exportable with a static output shape; torchvision.ops.nms is
not used because it is not a dependency and differs on zero-area boxes and the score filter.
"""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.ops._args import _arg
from modelport.converters.onnx_torch.registry import register


def _corners(boxes, center_point_box):
    """(x_min, x_max, y_min, y_max) of (num_boxes, 4) boxes in either ONNX format."""
    if center_point_box:
        xc, yc, w, h = boxes.unbind(-1)
        return xc - w / 2, xc + w / 2, yc - h / 2, yc + h / 2
    y1, x1, y2, x2 = boxes.unbind(-1)
    return torch.minimum(x1, x2), torch.maximum(x1, x2), torch.minimum(y1, y2), torch.maximum(y1, y2)


def _suppression(boxes, center_point_box, iou_threshold):
    """(num_boxes, num_boxes) bool: whether box i suppresses box j (the reference's suppress_by_iou)."""
    x0, x1, y0, y1 = _corners(boxes, center_point_box)
    iw = torch.minimum(x1[:, None], x1[None, :]) - torch.maximum(x0[:, None], x0[None, :])
    ih = torch.minimum(y1[:, None], y1[None, :]) - torch.maximum(y0[:, None], y0[None, :])
    inter = iw * ih
    area = (x1 - x0) * (y1 - y0)
    union = area[:, None] + area[None, :] - inter
    ok = (iw > 0) & (ih > 0) & (inter > 0) & (area[:, None] > 0) & (area[None, :] > 0) & (union > 0)
    iou = inter / torch.where(union > 0, union, torch.ones_like(union))
    return ok & (iou > iou_threshold)


def _select(scores, suppress, max_boxes, score_threshold):
    """Greedy selection for one (batch, class): box indices in the order they are selected."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    values = scores.tolist()
    suppress = suppress.tolist()
    kept = []
    for i in order:
        if len(kept) >= max_boxes:
            break
        if score_threshold is not None and not values[i] > score_threshold:
            continue
        if not any(suppress[k][i] for k in kept):
            kept.append(i)
    return kept


def _optional(v):
    """A scalar input as a Python number, None when omitted or empty."""
    if isinstance(v, torch.Tensor):
        return v.reshape(-1)[0].item() if v.numel() else None
    if isinstance(v, (list, tuple)):
        return v[0] if v else None
    return v


def non_max_suppression(boxes, scores, max_boxes=None, iou_threshold=None, score_threshold=None,
                        center_point_box=0):
    """ONNX NonMaxSuppression: (num_selected, 3) int64 rows of [batch, class, box]."""
    max_boxes = max(int(_optional(max_boxes) or 0), 0)
    iou_threshold = _optional(iou_threshold) or 0.0
    score_threshold = _optional(score_threshold)
    rows = []
    for n in range(boxes.shape[0]):
        suppress = _suppression(boxes[n], center_point_box, iou_threshold)
        for c in range(scores.shape[1]):
            for i in _select(scores[n, c], suppress, max_boxes, score_threshold):
                rows.append([n, c, i])
    return torch.tensor(rows, dtype=torch.long, device=boxes.device).reshape(-1, 3)


@register("NonMaxSuppression", since=10)
def _non_max_suppression_10(b, node, x, attrs):
    return b.call(non_max_suppression, x[0], x[1], _arg(b, node, x, 2), _arg(b, node, x, 3), _arg(b, node, x, 4),
                  attrs.get("center_point_box", 0))
