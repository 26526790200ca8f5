"""``LadderSearch``: which ladder step the planner measures next.

Three phases, each pruned by the fewest bytes met so far (a step of more bytes cannot
be recommended):

1. **Coarse sweep.** A geometric subset of every ladder (:func:`coarse_steps`: sizes
   about doubling), all ladders together, cheapest first.
2. **Refinement.** In every ladder, bisection between its largest failing step and its
   smallest passing one (or the first step above the fewest bytes met), cheapest
   midpoint first, until the two are neighbours. Then the recommendation is the smallest
   passing step of its ladder, and the step below it was measured and failed.
3. **Rotations**, where the plain code came close. The itq ladder is left out of the
   sweep and opened only when the plain sign code of one of its steps (``binary`` for
   ``itq/binary``) failed within ``itq_gap`` of the target below the fewest bytes met;
   then it is bisected like the others (its rotation is fitted once). OPQ, sparingly
   (each fit takes tens of seconds): at the failing step of the pq8 ladder just below
   its boundary, when that plain PQ came within ``opq_gap`` of the target and is still
   below the fewest bytes met; if OPQ passes there, one step down by the same rule.
   (When that step's plain PQ is too far off, the OPQ step below is not fitted, and the
   plan's ``recommended_below`` is None for an OPQ recommendation; ``skipped`` says why.)

A spec *passes* when one of its measured rerank factors meets the target. Ladders are
assumed monotone (more bytes, no less recall): a step below a failing one is not
measured, and the plan says so in its ``skipped`` list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._candidates import CandidateSpec, coarse_steps, group_ladders, opq_candidate

__all__ = ["LadderSearch", "OPQ_GAP", "ITQ_GAP", "MAX_OPQ"]

#: OPQ is tried next to a plain pq8 step whose best recall came within this of the target
OPQ_GAP = 0.03
#: ITQ is tried at a sign code whose plain (unrotated) recall came within this of the target
#: (a learned rotation before sign codes gains a few points of recall, not tens)
ITQ_GAP = 0.03
#: ladders measured only where the plain code of a step came close (the rotation's cost buys little otherwise)
GATED = ("itq",)
#: at most this many OPQ fits per plan (each takes tens of seconds)
MAX_OPQ = 2


class LadderSearch:
    """The measuring order of a plan: coarse sweep, bisection per ladder, then OPQ.

    Parameters
    ----------
    cands : sequence of CandidateSpec
        Every ladder step (:func:`~lowdim.plan.generate_candidates`).
    d : int
        Input width (for the OPQ specs).
    n_train : int
        Training rows (OPQ needs enough of them).
    target : float
        The recall target (for OPQ's closeness rule).
    max_opq : int
        OPQ fits allowed.
    ratio : float
        Bytes ratio between the coarse sweep's steps.

    Examples
    --------
    >>> from lowdim.plan import generate_candidates
    >>> s = LadderSearch(generate_candidates(64, n_train=5000, max_bytes=16), d=64, n_train=5000, target=0.9)
    >>> while (c := s.next()) is not None:  # an oracle: 12 bytes or more pass
    ...     s.record(c, c.ram_bytes >= 12, recall=0.95 if c.ram_bytes >= 12 else 0.5)
    >>> s.best_bytes, s.below("pca24/int4").spec, s.passed["pca16/int4"]
    (12, 'pca16/int4', False)
    """

    def __init__(
        self,
        cands: Sequence[CandidateSpec],
        *,
        d: int,
        n_train: int,
        target: float,
        max_opq: int = MAX_OPQ,
        opq_gap: float = OPQ_GAP,
        itq_gap: float = ITQ_GAP,
        ratio: float = 2.0,
    ) -> None:
        self.ladders = group_ladders(cands)
        self.d, self.n_train, self.target = d, n_train, target
        self.max_opq, self.opq_gap, self.itq_gap = max_opq, opq_gap, itq_gap
        self.best_bytes: float = math.inf
        #: spec -> whether it passed, for every measured spec
        self.passed: dict[str, bool] = {}
        #: spec -> its best recall over the measured factors
        self.recall: dict[str, float] = {}
        #: spec -> the candidate, for every step (and every OPQ tried)
        self.steps: dict[str, CandidateSpec] = {c.spec: c for steps in self.ladders.values() for c in steps}
        sweep = {c.spec: c for name, s in self.ladders.items() if name not in GATED for c in coarse_steps(s, ratio)}
        self._coarse = sorted(sweep.values(), key=_key)
        #: OPQ specs by bytes, as tried (the OPQ ladder is the pq8 ladder's sizes)
        self.opq: dict[int, CandidateSpec] = {}
        self.opq_skipped: list[tuple[str, str]] = []
        self._opq_done = False
        self.phase = "coarse"

    @property
    def coarse(self) -> list[CandidateSpec]:
        """The coarse sweep's steps not yet taken, cheapest first (what a parallel run measures ahead)."""
        return list(self._coarse)

    @property
    def pending(self) -> int:
        """Steps of the coarse sweep not yet taken (or skipped); the refinement comes on top."""
        return len(self._coarse)

    # -- what happened ----------------------------------------------------------------------
    def record(self, cand: CandidateSpec, passed: bool, *, recall: float) -> None:
        """The outcome of measuring ``cand``: whether some factor met the target, and its best recall."""
        self.steps.setdefault(cand.spec, cand)
        self.passed[cand.spec] = bool(passed)
        self.recall[cand.spec] = float(recall)
        if passed:
            self.best_bytes = min(self.best_bytes, cand.ram_bytes)

    # -- what next --------------------------------------------------------------------------
    def next(self) -> CandidateSpec | None:
        """The next spec to measure, or None when the search is over."""
        while self._coarse:
            c = self._coarse.pop(0)
            if c.spec not in self.passed and c.ram_bytes <= self.best_bytes:
                return c
        self.phase = "refine"
        picks = [m for m in (self._midpoint(s) for n, s in self.ladders.items() if self._open(n)) if m is not None]
        if picks:
            return min(picks, key=_key)
        gated = self._next_gated()
        if gated is not None:
            self.phase = "rotation"
            return gated
        self.phase = "opq"
        return self._next_opq()

    def _open(self, name: str) -> bool:
        """Whether a ladder takes part in the bisection: always, or, for a gated one, once a step was measured."""
        return name not in GATED or any(c.spec in self.passed for c in self.ladders[name])

    def _next_gated(self) -> CandidateSpec | None:
        """The first step of a closed gated ladder whose plain code failed within ``itq_gap``, below the bytes met."""
        for name in GATED:
            if name not in self.ladders or self._open(name):
                continue
            for c in reversed(self.ladders[name]):  # the largest first: the closest to passing
                plain = c.spec.split("/", 1)[1]
                close = self.recall.get(plain, 0.0) >= self.target - self.itq_gap
                if c.ram_bytes < self.best_bytes and self.passed.get(plain) is False and close:
                    return c
        return None

    def _interval(self, steps: Sequence[CandidateSpec]) -> tuple[int, int]:
        """(largest failing index below the first passing one or -1, that passing index or len(steps))."""
        hi = next((i for i, c in enumerate(steps) if self.passed.get(c.spec)), len(steps))
        lo = max((i for i in range(hi) if self.passed.get(steps[i].spec) is False), default=-1)
        return lo, hi

    def _midpoint(self, steps: Sequence[CandidateSpec]) -> CandidateSpec | None:
        lo, hi = self._interval(steps)
        # steps above the fewest bytes met cannot win: the bisection stops below them
        hi = min(hi, next((i for i, c in enumerate(steps) if c.ram_bytes > self.best_bytes), len(steps)))
        if hi - lo <= 1:
            return None
        return steps[(lo + hi) // 2]

    def _next_opq(self) -> CandidateSpec | None:
        if self._opq_done or len(self.opq) >= self.max_opq:
            return None
        steps = self.ladders.get("pq8", [])
        tried = sorted(self.opq)
        if not tried:
            lo, _ = self._interval(steps)
            if lo < 0:
                self._opq_done = True
                return None
            plain = steps[lo]
            opq = opq_candidate(plain, self.d, n_train=self.n_train)
            if (
                opq is not None
                and opq.ram_bytes < self.best_bytes
                and self.recall.get(plain.spec, 0.0) < self.target - self.opq_gap
            ):
                self._opq_done = True
                gap = f"{self.target - self.opq_gap:g}"
                self.opq_skipped.append((opq.spec, f"OPQ: plain {plain.spec} recalls less than {gap}, too far to close"))
                return None
        else:
            last = self.opq[tried[0]]
            if not self.passed.get(last.spec):
                self._opq_done = True  # OPQ failed: smaller ones will not pass either
                return None
            below = [c for c in steps if c.ram_bytes < last.ram_bytes]
            if not below:
                self._opq_done = True
                return None
            plain = below[-1]
            # one step down only where OPQ could pass there too: the same closeness rule as the first fit,
            # on the plain step measured first (a few seconds, against tens for OPQ)
            if plain.spec not in self.passed:
                return plain
            recall = self.recall[plain.spec]
            if recall < self.target - self.opq_gap:
                self._opq_done = True
                opq = opq_candidate(plain, self.d, n_train=self.n_train)
                if opq is not None:
                    self.opq_skipped.append(
                        (
                            opq.spec,
                            f"OPQ: plain {plain.spec} recalls {recall:.4f}, more than {self.opq_gap:g} short: "
                            "a rotation does not close that",
                        )
                    )
                return None
        opq = opq_candidate(plain, self.d, n_train=self.n_train)
        if opq is None or opq.ram_bytes >= self.best_bytes:
            # OPQ is tried to reach the target in fewer bytes; at bytes already met it could only
            # win the tie-break, which is not worth its tens of seconds of training
            if opq is not None:
                self.opq_skipped.append(
                    (opq.spec, f"OPQ at {opq.ram_bytes} B/vector: a candidate of these bytes already meets the target")
                )
            self._opq_done = True
            return None
        self.opq[opq.ram_bytes] = opq
        self.steps[opq.spec] = opq
        return opq

    # -- the evidence -------------------------------------------------------------------------
    def below(self, spec: str) -> CandidateSpec | None:
        """The step below ``spec`` in its ladder (for OPQ: the next smaller OPQ tried), or None."""
        c = self.steps.get(spec)
        if c is None:
            return None
        if c.family == "opq":
            smaller = [b for b in self.opq if b < c.ram_bytes]
            return self.opq[max(smaller)] if smaller else None
        steps = self.ladders.get(c.ladder, [])
        i = next((i for i, s in enumerate(steps) if s.spec == spec), 0)
        return steps[i - 1] if i > 0 else None

    def skipped(self) -> list[tuple[str, str]]:
        """Every ladder step left unmeasured, with the reason, cheapest first; then OPQ's."""
        out = []
        for name, steps in self.ladders.items():
            for i, c in enumerate(steps):
                if c.spec in self.passed:
                    continue
                if c.ram_bytes > self.best_bytes:
                    reason = f"{c.ram_bytes} B/vector > {self.best_bytes:g} B/vector of a candidate meeting the target"
                elif not self._open(name):
                    plain = c.spec.split("/", 1)[1]
                    reason = (
                        f"a rotation before {plain} is tried only where {plain} alone misses the target by less than "
                        f"{self.itq_gap:g}"
                    )
                else:
                    fail = next((s for s in steps[i + 1 :] if self.passed.get(s.spec) is False), None)
                    reason = (
                        f"smaller than {fail.spec}, which misses the target (the {name} ladder recalls less at fewer bytes)"
                        if fail is not None
                        else "not measured"
                    )
                out.append((c, reason))
        out.sort(key=lambda cr: _key(cr[0]))
        return [(c.spec, r) for c, r in out] + self.opq_skipped


def _key(c: CandidateSpec) -> tuple[int, int, str]:
    return c.order_key
