"""Work out how a converter permuted a tensor's axes, from the shapes before and after.

onnx2tf turns channel-first tensors (NCHW, NCW, NCDHW) into channel-last ones (trap 2). Given the
source shape and the artifact shape, `infer_perm` names the permutation, or says it cannot tell.
Only the identity and the channel-first→channel-last permutation are candidates: matching by
"any permutation whose shape fits" would pass for wrong layouts whenever dims are equal.
"""

from __future__ import annotations

from modelport.types import TensorMapping


def channel_last_perm(rank: int) -> list[int]:
    """NCHW -> NHWC for rank 4; generally move axis 1 to the end."""
    return [0] + list(range(2, rank)) + [1]


def _known(d) -> bool:
    """A dim that is a size: symbolic names, None and -1 (TFLite's shape_signature) fit any size."""
    return isinstance(d, int) and d >= 0


def _fits(src: list, dst: list, perm: list[int]) -> bool:
    return all(not _known(dst[i]) or not _known(src[p]) or dst[i] == src[p] for i, p in enumerate(perm))


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


def fitting_perms(src: list | None, dst: list | None) -> list[list[int] | None]:
    """Every candidate permutation (identity as None, channel-first -> channel-last) the shapes
    allow: more than one means only running the artifact can tell (trap 12)."""
    if src is None or dst is None or len(src) != len(dst):
        return []
    rank = len(src)
    out: list[list[int] | None] = []
    if _fits(src, dst, list(range(rank))):
        out.append(None)
    if rank >= 3 and _fits(src, dst, channel_last_perm(rank)):
        out.append(channel_last_perm(rank))
    return out


def alternatives_to(perm: list[int] | None, src: list | None, dst: list | None) -> list[list[int] | None]:
    """The fitting permutations other than the chosen one."""
    return [p for p in fitting_perms(src, dst) if p != perm]


def inverse_perm(perm: list[int] | None) -> list[int] | None:
    if perm is None:
        return None
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def perm_name(perm: list[int] | None) -> str:
    """A permutation as users name it: 'same layout', 'NCHW->NHWC', or its axes."""
    if perm is None:
        return "same layout"
    named = {(0, 2, 3, 1): "NCHW->NHWC", (0, 2, 1): "NCW->NWC", (0, 2, 3, 4, 1): "NCDHW->NDHWC",
             (0, 3, 1, 2): "NHWC->NCHW", (0, 4, 1, 2, 3): "NDHWC->NCDHW"}
    return named.get(tuple(perm), "axes " + ",".join(map(str, perm)))


def mapping_by_shape(source: str, source_shape: list, artifact: str, artifact_shape: list, how: str):
    """A TensorMapping whose layout is read from the two shapes (`how`: where the names came from),
    with the other permutations that fit kept for the run that settles ambiguous ones."""
    perm, why = infer_perm(source_shape, artifact_shape)
    return TensorMapping(source, artifact, perm, f"{how}; layout by {why}", alternatives_to(perm, source_shape, artifact_shape))
