"""Work out how a converter permuted a tensor's axes, from the shapes before and after.

onnx2tf turns channel-first tensors (NCHW, NCW, NCDHW) into channel-last ones (trap 2). Given the
source shape and the artifact shape, `infer_perm` names the permutation, or says it cannot tell.
Only the identity and the channel-first→channel-last permutation are candidates: matching by
"any permutation whose shape fits" would pass for wrong layouts whenever dims are equal.
"""

from __future__ import annotations


def channel_last_perm(rank: int) -> list[int]:
    """NCHW -> NHWC for rank 4; generally move axis 1 to the end."""
    return [0] + list(range(2, rank)) + [1]


def _fits(src: list, dst: list, perm: list[int]) -> bool:
    return all(isinstance(dst[i], str) or isinstance(src[p], str) or dst[i] == src[p] for i, p in enumerate(perm))


def infer_perm(src: list | None, dst: list | None, *, prefer_channel_last: bool | None = None):
    """Return (perm or None, rule). perm None means identity; rule says how sure we are."""
    if src is None or dst is None or len(src) != len(dst):
        return None, "shape unknown or rank changed"
    rank = len(src)
    identity = list(range(rank))
    cl = channel_last_perm(rank) if rank >= 3 else None
    fits_id = _fits(src, dst, identity)
    fits_cl = cl is not None and _fits(src, dst, cl)
    if fits_id and fits_cl:
        if prefer_channel_last:
            return cl, "converter report (channel-last)"
        if prefer_channel_last is False:
            return None, "converter report (layout kept)"
        return None, "ambiguous shape, assumed layout kept"
    if fits_cl:
        return cl, "shape (channel-first -> channel-last)"
    if fits_id:
        return None, "shape (layout kept)"
    return None, "shapes differ"


def inverse_perm(perm: list[int] | None) -> list[int] | None:
    if perm is None:
        return None
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv
