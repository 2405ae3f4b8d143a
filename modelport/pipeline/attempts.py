"""Try each edge's strategies until the route converts and its artifacts pass validation.

A route is a chain of edges; each edge has an ordered list of strategies (converters/strategies.py).
The search is depth-first: step i runs its first strategy in a worker; if that fails (the converter
raises or dies, or the artifact does not run), the next strategy is tried at once; if it converts,
step i+1 starts from its artifact. When the last step converts, every artifact not yet judged is
validated against the source in one worker; the first one that fails parity sends the search back
to its own step, which tries its next strategy. A step that exhausts its strategies sends the
search back to the step before it (another exporter may write an ONNX file the next converter
takes, trap 11). The search stops at the first chain that converts and passes, so when every
first strategy succeeds it costs exactly what one conversion and one validation cost.

Each attempt gets its own folder in the scratch space, so no attempt overwrites another's
artifact; every attempt (strategy, outcome, reason, seconds) is recorded for the step's report.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from modelport.converters.job import EdgeResult
from modelport.converters.planner import Edge
from modelport.errors import ConversionError, NoStrategyHelps, NotApplicable, UnavailableError
from modelport.types import Format, IOMap

MAX_ATTEMPTS = 24  # across the whole route: a bound on the search, far above any route's needs

# (edge, strategy, source, format, flavor, output, io map so far) -> (result, smoke report, seconds,
# the artifact's candidate result when its worker judged it, else None)
RunEdge = Callable[[Edge, str, str, Format, "str | None", str, "IOMap | None"],
                   "tuple[EdgeResult, dict | None, float, dict | None]"]
# [(artifact path, its io map from the source, step index)] -> one candidate result dict per artifact
Validate = Callable[[list[tuple[str, IOMap, int]]], list[dict]]


@dataclass
class Attempt:
    step: int
    edge: str
    strategy: str
    outcome: str  # converted, failed, parity failed, abandoned (a later step failed), skipped, not tried
    reason: str = ""
    seconds: float = 0.0
    after: list[str] = field(default_factory=list)  # the strategies of the earlier steps it ran after

    def to_dict(self) -> dict[str, Any]:
        d = {"step": self.step, "edge": self.edge, "strategy": self.strategy, "outcome": self.outcome,
             "reason": self.reason, "seconds": round(self.seconds, 3)}
        if self.after:
            d["after"] = self.after
        return d


@dataclass
class Link:
    """One converted step of the chain being built."""

    edge: Edge
    strategy: str
    output: str
    result: EdgeResult
    smoke: dict | None
    seconds: float
    io_map: IOMap  # from the source to this artifact
    candidate: dict | None = None  # its validation result, once judged


@dataclass
class SearchResult:
    chain: list[Link]  # the winning chain, or the first one that converted (when none passed)
    attempts: list[Attempt]
    passed: bool | None  # None: not validated


class StrategySearch:
    def __init__(self, route: list[Edge], strategies: list[list[str]], run_edge: RunEdge,
                 validate: Validate | None, scratch: str):
        self.route, self.strategies, self.run_edge, self.validate = route, strategies, run_edge, validate
        self.scratch = scratch
        self.attempts: list[Attempt] = []
        self.chain: list[Link] = []
        self.first_converted: list[Link] | None = None  # kept to be written when nothing passes
        self.errors: list[ConversionError] = []

    def run(self, source: str, fmt: Format, flavor: str | None, prefix: list[Link] | None = None) -> SearchResult:
        """Search from the source; or, given `prefix` (links another search converted for this
        route's first steps), from its last artifact: the prefix is kept as it is, and a failure
        that would need another strategy in it ends the search (the caller searches from scratch)."""
        if prefix:
            self.chain = list(prefix)
            last = prefix[-1]
            failed_at = self._step(len(prefix), last.output, last.edge.target, None, last.io_map)
        else:
            failed_at = self._step(0, source, fmt, flavor, None)
        if failed_at is None:
            return SearchResult(list(self.chain), self.attempts, None if self.validate is None else True)
        if self.first_converted is not None:
            return SearchResult(self.first_converted, self.attempts, False)
        raise self._all_failed()

    def _step(self, i: int, src: str, fmt: Format, flavor: str | None, io_map: IOMap | None) -> int | None:
        """None when the chain from step i on converts and passes; else the index of the step to
        retry (i itself, or an earlier one whose artifact failed parity)."""
        edge = self.route[i]
        hopeless = None  # the strategy that met a NoStrategyHelps cause: the rest of this step's are not tried
        for strategy in self.strategies[i]:
            if hopeless is not None:
                self._record(i, strategy, "not tried", f"the cause {hopeless} met is in the model: no strategy of "
                                                       f"{edge.name} changes it")
                continue
            if len(self.attempts) >= MAX_ATTEMPTS:
                self._record(i, strategy, "not tried", f"the search stopped after {MAX_ATTEMPTS} attempts")
                continue
            out = os.path.join(self.scratch, f"attempt{len(self.attempts) + 1}", _artifact_name(i, edge))
            os.makedirs(os.path.dirname(out))
            t0 = time.perf_counter()
            try:
                result, smoke, seconds, candidate = self.run_edge(edge, strategy, src, fmt, flavor, out, io_map)
            except NotApplicable as e:
                self._record(i, strategy, "skipped", _reason(e), time.perf_counter() - t0)
                continue
            except (ConversionError, UnavailableError) as e:
                self.errors.append(e)
                self._record(i, strategy, "failed", _reason(e), time.perf_counter() - t0)
                if isinstance(e, NoStrategyHelps):
                    hopeless = strategy
                continue
            attempt = self._record(i, strategy, "converted", "", seconds)
            chained = result.io_map if io_map is None else io_map.then(result.io_map)
            self.chain.append(Link(edge, strategy, out, result, smoke, seconds, chained, candidate))
            failed_at = self._judge() if i == len(self.route) - 1 else self._step(i + 1, out, edge.target, None, chained)
            if failed_at is None:
                return None
            if i == len(self.route) - 1 and self.first_converted is None:
                self.first_converted = list(self.chain)
            link = self.chain.pop()
            if failed_at == i:
                attempt.outcome = "parity failed"
                attempt.reason = candidate_reason(link.candidate) if link.candidate else "fails parity with the source"
            elif failed_at < i:
                return failed_at
            else:  # the later steps found no way from this artifact: try the next strategy here
                attempt.outcome = "abandoned"
                attempt.reason = f"no strategy of {self.route[failed_at].name} converted its artifact and passed"
        return i

    def _judge(self) -> int | None:
        """Validate the artifacts not judged yet; the index of the first failing one, or None."""
        if self.validate is None:
            return None
        pending = [(k, link) for k, link in enumerate(self.chain) if link.candidate is None]
        if pending:
            results = self.validate([(link.output, link.io_map, k) for k, link in pending])
            for (_, link), candidate in zip(pending, results):
                link.candidate = candidate
        return next((k for k, link in enumerate(self.chain) if not link.candidate["passed"]), None)

    def _record(self, i: int, strategy: str, outcome: str, reason: str, seconds: float = 0.0) -> Attempt:
        after = [link.strategy for link in self.chain[:i]] if i else []
        attempt = Attempt(i, self.route[i].name, strategy, outcome, reason, seconds, after)
        self.attempts.append(attempt)
        return attempt

    def _all_failed(self) -> ConversionError:
        tried = [a for a in self.attempts if a.outcome in ("failed", "parity failed")]
        cls = UnavailableError if self.errors and all(isinstance(e, UnavailableError) for e in self.errors) else ConversionError
        if len(tried) == 1 and len(self.errors) == 1:  # one strategy tried: its own error, as before strategies existed
            e = self.errors[0]
            err = cls(e.message, detail=e.detail)
        else:
            last = self.errors[-1] if self.errors else None
            by_reason: dict[str, list[str]] = {}  # one line per distinct reason, naming who hit it
            for a in tried:
                by_reason.setdefault(a.reason, []).append(f"{a.edge} {a.strategy}")
            summary = "; ".join(f"{', '.join(who)}: {why[:300]}" for why, who in list(by_reason.items())[-3:])
            err = cls(f"every strategy failed ({len(tried)} tried): {summary}", detail=last.detail if last else None)
        err.attempts = [a.to_dict() for a in self.attempts]
        return err


def candidate_reason(candidate: dict) -> str:
    """One line: why a validated artifact failed (its error, its first failing output, a dynamic
    size or another backend that fails)."""
    reasons = ([candidate.get("error")] if candidate.get("error") else []) + \
        [f"{o['output']}: {o['reason']}" for o in candidate.get("outputs", []) if not o["passed"]] + \
        [f"at {e['dim']}={e['size']}: {e['detail']}" for e in candidate.get("sizes", []) if e.get("passed") is False] + \
        [f"on the TF.js {e['backend']} backend: {e['detail']}" for e in candidate.get("backends", []) if not e["passed"]]
    return reasons[0] if reasons else "fails parity with the source"


def _reason(e: Exception) -> str:
    message = getattr(e, "message", str(e))
    # The worker prefixes its label ("onnx->tflite: ..."): the attempt row names the edge already.
    head, sep, rest = message.partition(": ")
    return rest if sep and "->" in head and " " not in head.strip() else message


def _artifact_name(i: int, edge: Edge) -> str:
    from modelport.pipeline.naming import step_name

    return step_name(i, edge)
