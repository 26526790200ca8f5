"""The privacy record kept with every release, and the budget that several releases from the same data share.

A :class:`PrivacyRecord` says what was released and why it is private: the mechanism, ε and δ,
the neighbouring relation (one row added or removed), the clip bound, each released block's
sensitivity, budget share and noise scale, which random draws are public and how the noise was
seeded. It travels in the summary's file header, and ``lowdim private info`` and the service show it.

**Budgets add up.** Releasing several summaries computed from the same rows costs the sum of
their ε and the sum of their δ (basic sequential composition). :func:`compose` adds records up;
:class:`PrivacyBudget` refuses a release that would overspend, before any noise is drawn. Releases
over *disjoint* rows (one summary per class in :class:`~lowdim.private.PrivateClassifier`) compose in
parallel: the maximum, not the sum, since each row is in one of them only.

Examples
--------
>>> budget = PrivacyBudget(epsilon=1.5)
>>> budget.charge(1.0, label="gaussian KDE")
>>> budget.remaining
(0.5, 0.0)
>>> budget.charge(1.0, label="l1 sums")
Traceback (most recent call last):
...
lowdim.private._record.BudgetExceededError: this release needs epsilon=1, but the budget has 0.5 of 1.5 left (spent: gaussian KDE epsilon=1); release with a smaller epsilon or start from a larger budget
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_atomic
from .._lock import FileLock
from ..exceptions import FileFormatError, ParameterError

__all__ = ["PrivacyRecord", "PrivacyBudget", "BudgetExceededError", "compose", "check_epsilon", "check_delta"]


class BudgetExceededError(ParameterError):
    """A release would spend more privacy budget than is left."""


def check_epsilon(value: Any, owner: str) -> float:
    """``value`` as a finite float > 0, or a one-line :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"The 'epsilon' parameter of {owner} must be a finite number > 0 (the privacy budget; smaller is more private). "
            f"Got {value!r}."
        )
    return float(value)


def check_delta(value: Any, owner: str) -> float:
    """``value`` as a float in [0, 1), or a one-line :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1):
        raise ParameterError(
            f"The 'delta' parameter of {owner} must be a number in [0, 1): 0 for pure epsilon-DP (Laplace noise), "
            f"or a small probability such as 1e-5, well below 1/n (Gaussian noise). Got {value!r}."
        )
    return float(value)


def _num(x: float) -> str:
    return f"{x:.6g}"


def _natural(item: tuple[str, Any]) -> tuple[Any, ...]:
    """Sort key that puts ``counts_l2`` before ``counts_l10``."""
    head, _, tail = item[0].rpartition("_l")
    return (int(tail), head) if tail.isdigit() else (-1, item[0])


@dataclass(frozen=True)
class PrivacyRecord:
    """What one release is and why it is (ε, δ)-differentially private.

    Attributes
    ----------
    f : str
        The similarity function (``"l1"``, ``"gaussian"``, ...).
    mechanism : str
        How the statistics are built, in words.
    epsilon, delta : float
        The guarantee of the whole release. ``delta == 0``: pure ε-DP.
    noise : str
        ``"laplace"`` or ``"gaussian"``.
    neighbouring : str
        The relation ε and δ refer to.
    clip : str
        The public clip bound and what is clipped to it.
    bound : float
        The clip bound's value.
    sensitivity : dict
        ``{block: [Δ1, Δ2]}``: how much one row can change each released block.
    shares : dict
        ``{block: share of the budget}`` (sum 1).
    noise_scales : dict
        ``{block: Laplace b or Gaussian σ}``.
    public : str
        The random draws that are public (independent of the data, stored in the file).
    noise_seed : str
        How the noise was seeded.
    composition : str
        How the parts of the release compose.
    n_features : int
        Width of the rows.
    parts : int
        Summaries in the release (1, or one per class).
    version : str
        lowdim version that made the release.
    """

    f: str
    mechanism: str
    epsilon: float
    delta: float
    noise: str
    clip: str
    bound: float
    sensitivity: dict[str, list[float]]
    shares: dict[str, float]
    noise_scales: dict[str, float]
    public: str
    noise_seed: str
    n_features: int
    neighbouring: str = "add or remove one row"
    composition: str = "one release"
    parts: int = 1
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> tuple[float, float]:
        """``(ε, δ)`` of the whole release."""
        return self.epsilon, self.delta

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "the file") -> PrivacyRecord:
        if not isinstance(data, dict):
            raise FileFormatError(f"{source} has no privacy record; expected a file written by PrivateSummary.save")
        try:
            return cls(**data)
        except TypeError as exc:
            raise FileFormatError(f"{source} has a damaged privacy record: {exc}") from None

    def lines(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows for ``lowdim private info`` and the like."""
        guarantee = f"epsilon={_num(self.epsilon)}" + (f", delta={_num(self.delta)}" if self.delta else " (pure DP)")
        scales = sorted(self.noise_scales.items(), key=_natural)
        shown = ", ".join(f"{k}={_num(v)}" for k, v in scales[:4]) + (f", ... ({len(scales)} blocks)" if len(scales) > 4 else "")
        sens = sorted(self.sensitivity.items(), key=_natural)
        sens_shown = ", ".join(f"{k}=({_num(a)}, {_num(b)})" for k, (a, b) in sens[:4]) + (" ..." if len(sens) > 4 else "")
        return [
            ("function", self.f),
            ("guarantee", f"{guarantee}, {self.noise} noise, neighbours: {self.neighbouring}"),
            ("mechanism", self.mechanism),
            ("clip bound", self.clip),
            ("sensitivity (l1, l2)", sens_shown),
            ("noise scales", shown),
            ("public draws", self.public),
            ("noise seed", self.noise_seed),
            ("composition", self.composition),
            ("width", str(self.n_features)),
        ]


def compose(records: Iterable[PrivacyRecord | tuple[float, float]]) -> tuple[float, float]:
    """``(Σ ε, Σ δ)``: what releasing all of ``records`` from the same rows costs (basic composition).

    >>> compose([(1.0, 0.0), (0.5, 1e-6)])
    (1.5, 1e-06)
    """
    eps = delta = 0.0
    for r in records:
        e, d = r.total if isinstance(r, PrivacyRecord) else r
        eps, delta = eps + float(e), delta + float(d)
    return eps, delta


class PrivacyBudget:
    """A total (ε, δ) for one data set, charged by each release made from it (basic composition).

    Charge *before* releasing: ``PrivateSummary.fit(X, budget=b)`` does, so that a release that would
    overspend is refused and nothing is drawn. :meth:`save` / :meth:`load` keep the ledger in a JSON
    file (``lowdim private build --ledger``).

    Parameters
    ----------
    epsilon : float
        Total ε allowed for the data set.
    delta : float
        Total δ allowed (0: only pure-DP releases).
    """

    def __init__(self, epsilon: float, delta: float = 0.0) -> None:
        self.epsilon = check_epsilon(epsilon, "PrivacyBudget")
        self.delta = check_delta(delta, "PrivacyBudget")
        self.entries: list[dict[str, Any]] = []

    @property
    def spent(self) -> tuple[float, float]:
        return compose((e["epsilon"], e["delta"]) for e in self.entries)

    @property
    def remaining(self) -> tuple[float, float]:
        eps, delta = self.spent
        return max(self.epsilon - eps, 0.0), max(self.delta - delta, 0.0)

    def check(self, epsilon: float, delta: float = 0.0) -> None:
        """Raise :class:`BudgetExceededError` unless ``(epsilon, delta)`` fits in what is left."""
        eps_spent, delta_spent = self.spent
        tol = 1e-12  # shares of a budget summed in floating point
        if eps_spent + epsilon > self.epsilon * (1 + tol) or delta_spent + delta > self.delta * (1 + tol) + 1e-300:
            what = f"epsilon={_num(epsilon)}" + (f", delta={_num(delta)}" if delta else "")
            left = f"{_num(max(self.epsilon - eps_spent, 0.0))} of {_num(self.epsilon)}"
            if delta:
                left += f" (delta {_num(max(self.delta - delta_spent, 0.0))} of {_num(self.delta)})"
            history = "; ".join(f"{e['label'] or 'release'} epsilon={_num(e['epsilon'])}" for e in self.entries) or "nothing"
            raise BudgetExceededError(
                f"this release needs {what}, but the budget has {left} left (spent: {history}); "
                f"release with a smaller epsilon or start from a larger budget"
            )

    def charge(self, epsilon: float, delta: float = 0.0, *, label: str = "") -> None:
        """Record a release of ``(epsilon, delta)``; refuse it (nothing recorded) if it does not fit."""
        epsilon = check_epsilon(epsilon, "PrivacyBudget.charge")
        delta = check_delta(delta, "PrivacyBudget.charge")
        self.check(epsilon, delta)
        self.entries.append({"label": str(label), "epsilon": epsilon, "delta": delta})

    def to_dict(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "delta": self.delta, "entries": list(self.entries)}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ledger as JSON (atomically, fsynced: a charge that was saved survives a crash)."""
        path = Path(path)
        text = (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8")
        write_atomic(path, lambda fh: fh.write(text))
        return path

    @classmethod
    @contextmanager
    def ledger(cls, path: str | os.PathLike[str], *, new: tuple[float, float] | None = None) -> Iterator[PrivacyBudget]:
        """The ledger in ``path``, held exclusively while releases are charged to it; saved on the way out.

        Two processes releasing from the same data set take turns (an advisory lock on ``path + ".lock"``,
        released however the holder dies), so neither can spend what the other already spent. ``new``
        is the ``(epsilon, delta)`` of a ledger that does not exist yet; without it a missing ledger is an
        error. Call :meth:`save` yourself right after a charge when something else is written next (the
        charge must reach the disk before the release does); it is saved again on exit, errors included.
        """
        path = Path(path)
        lock = FileLock(path.with_name(path.name + ".lock"))
        lock.acquire(exclusive=True, blocking=True)
        try:
            if path.exists():
                if new is not None:
                    raise ParameterError(f"ledger {path} already exists with its own budget; open it without a new budget")
                budget = cls.load(path)
            elif new is None:
                raise FileFormatError(f"privacy ledger {path} does not exist (give the total budget to start one)")
            else:
                budget = cls(*new)
            charged = len(budget.entries)
            try:
                yield budget
            finally:
                if len(budget.entries) != charged:
                    budget.save(path)
        finally:
            lock.release()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivacyBudget:
        """Read a ledger written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            budget = cls(data["epsilon"], data.get("delta", 0.0))
            for e in data["entries"]:
                budget.entries.append({"label": str(e["label"]), "epsilon": float(e["epsilon"]), "delta": float(e["delta"])})
        except FileNotFoundError:
            raise FileFormatError(f"privacy ledger {path} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(f"privacy ledger {path} is damaged ({type(exc).__name__}: {exc})") from None
        return budget

    def __repr__(self) -> str:
        eps, delta = self.spent
        return f"PrivacyBudget(epsilon={_num(self.epsilon)}, delta={_num(self.delta)}, spent=({_num(eps)}, {_num(delta)}))"
