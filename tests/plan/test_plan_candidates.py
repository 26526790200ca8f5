"""Candidate ladders: divisibility, sizes, max_bytes, rerank factors, widths; the ladder search on oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim.exceptions import ParameterError
from lowdim.plan import (
    CandidateSpec,
    LadderSearch,
    coarse_steps,
    generate_candidates,
    group_ladders,
    pca_widths,
    rerank_factors,
)
from lowdim.plan._candidates import BINARY_MIN_BITS, leading_variance_share, opq_candidate
from lowdim.spec import bytes_per_vector, parse_spec


def _m(spec: str) -> list[int]:
    s = parse_spec(spec)
    out = [t.args[0] for t in s.transforms if t.keyword == "opq"]
    if s.quantizer.keyword == "pq":
        out.append(s.quantizer.args[0])
    return out


@pytest.mark.parametrize("d", [48, 64, 100, 384, 768])
def test_every_pq_m_divides_its_input(d):
    cands = generate_candidates(d, n_train=50_000, intrinsic_dim=12, dims_90=d // 3, dims_95=d // 2, dims_99=3 * d // 4)
    assert any(c.family == "pq4" for c in cands)
    for c in cands:
        s = parse_spec(c.spec)
        width = s.output_dim(d) if s.transforms and s.transforms[0].keyword != "opq" else d
        for m in _m(c.spec):
            assert width % m == 0, c.spec
        s.check(d)  # parses and applies to d
        assert c.ram_bytes == bytes_per_vector(d, c.spec)


def test_candidates_are_sorted_cheapest_first_and_unique():
    cands = generate_candidates(384, n_train=50_000, intrinsic_dim=16, dims_90=200, dims_95=245, dims_99=317)
    assert [c.ram_bytes for c in cands] == sorted(c.ram_bytes for c in cands)
    assert len({c.spec for c in cands}) == len(cands)
    assert {"scalar", "sign", "itq", "pq4", "pq8", "rabitq", "pca"} <= {c.family for c in cands}
    assert "f32" in {c.spec for c in cands} and "mrl" not in {c.family for c in cands}


@settings(max_examples=40, deadline=None)
@given(d=st.integers(8, 1024), max_bytes=st.integers(1, 600))
def test_max_bytes_is_respected(d, max_bytes):
    for c in generate_candidates(d, n_train=10_000, max_bytes=max_bytes):
        assert c.ram_bytes <= max_bytes


def test_sign_codes_need_enough_bits():
    cands = generate_candidates(384, n_train=50_000, intrinsic_dim=8, dims_90=40, dims_95=60, dims_99=90)
    for c in cands:
        s = parse_spec(c.spec)
        if c.family == "pca" and s.quantizer.keyword in ("binary", "rbq"):
            bits = s.output_dim(384) * (s.quantizer.args[0] if s.quantizer.args else 1)
            assert bits >= BINARY_MIN_BITS, c.spec


def test_few_training_rows_drop_pq():
    assert not any(c.family == "pq4" for c in generate_candidates(64, n_train=10))
    assert opq_candidate(CandidateSpec.make("pq64x4", 384, "pq4"), 384, n_train=1000) is None


def test_matryoshka_family_only_when_asked():
    kw = dict(n_train=50_000, intrinsic_dim=16, dims_90=200, dims_95=245, dims_99=317)
    assert not any(c.family == "mrl" for c in generate_candidates(384, **kw))
    mrl = [c.spec for c in generate_candidates(384, matryoshka=True, **kw) if c.family == "mrl"]
    assert "mrl128/int8" in mrl and "mrl248/binary" in mrl


def test_pca_widths_follow_the_diagnosis():
    widths = pca_widths(384, intrinsic_dim=15.8, dims_90=201, dims_95=245, dims_99=317)
    assert [p for p, _ in widths] == [32, 64, 128, 208, 248, 320]
    assert all(p % 8 == 0 and p <= 7 * 384 / 8 for p, _ in widths)
    assert "intrinsic" in widths[0][1] and "99%" in widths[-1][1]
    # nothing known: fractions of d; tiny d: steps of 4
    assert [p for p, _ in pca_widths(256)] == [32, 64, 128, 192]
    assert all(p % 4 == 0 for p, _ in pca_widths(32, intrinsic_dim=3))


def test_rerank_factors_are_every_integer_but_one():
    for r in range(0, 13):
        fs = rerank_factors(r)
        assert fs == tuple(f for f in range(r + 1) if f != 1)
        assert 1 not in fs  # rerank 1 only reorders the top k: recall@k cannot change
    assert rerank_factors(4) == (0, 2, 3, 4) and rerank_factors(1) == (0,)
    with pytest.raises(ParameterError, match="'max_rerank' parameter of plan"):
        rerank_factors(-1)


def test_opq_candidate_keeps_the_bytes():
    c = opq_candidate(CandidateSpec.make("pq96x4", 384, "pq4"), 384, n_train=50_000)
    assert c.spec == "opq48/pq48x8" and c.ram_bytes == 48 and c.family == "opq"
    assert opq_candidate(CandidateSpec.make("int8", 384, "scalar"), 384, n_train=50_000) is None


def test_leading_variance_share():
    rng = np.random.default_rng(0)
    assert abs(leading_variance_share(rng.standard_normal((2000, 64))) - 0.5) < 0.05
    mrl_like = rng.standard_normal((2000, 64)) * np.linspace(3, 0.2, 64)
    assert leading_variance_share(mrl_like) > 0.8


def _ladders(d=384, **kw):
    return group_ladders(generate_candidates(d, n_train=50_000, **kw))


def test_pq_ladders_at_4_and_8_bits_down_to_4_bytes():
    lad = _ladders()
    # 8-bit PQ is a family of its own again (FAISS's PQm), at every m dividing d, from 4 bytes
    assert [c.spec for c in lad["pq8"]][:6] == ["pq4x8", "pq6x8", "pq8x8", "pq12x8", "pq16x8", "pq24x8"]
    assert [c.ram_bytes for c in lad["pq8"]] == [4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 384]
    assert [c.ram_bytes for c in lad["pq4"]] == [4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 192]
    for name in ("pq4", "pq8"):
        assert all(384 % parse_spec(c.spec).quantizer.args[0] == 0 and c.ram_bytes >= 4 for c in lad[name])
    # the gaps of the issue: 8 B and 24 B at 8 bits
    assert {"pq8x8", "pq24x8"} <= {c.spec for c in lad["pq8"]}
    # 8-bit PQ needs 256 training rows
    assert "pq8" not in group_ladders(generate_candidates(384, n_train=200)) and "pq4" in group_ladders(
        generate_candidates(384, n_train=200)
    )


def test_rabitq_sign_and_scalar_ladders():
    lad = _ladders()
    assert [c.spec for c in lad["rabitq"]] == [f"rabitq{b}" for b in range(1, 9)]
    assert [c.spec for c in lad["sign"]] == ["binary", "rbq2", "rbq3", "rbq4"]
    assert [c.spec for c in lad["scalar"]] == ["int4", "int8", "f16", "f32"]
    assert [c.spec for c in lad["itq"]] == ["itq/binary", "itq/rbq2"]
    for steps in lad.values():  # one spec per size, ascending
        sizes = [c.ram_bytes for c in steps]
        assert sizes == sorted(set(sizes))


def test_reduced_width_ladders_in_steps_of_8():
    lad = _ladders(intrinsic_dim=16, dims_95=245)
    widths = [parse_spec(c.spec).output_dim(384) for c in lad["pca/int8"]]
    assert widths == list(range(8, 337, 8))  # up to 7d/8
    assert [parse_spec(c.spec).output_dim(384) for c in lad["pca/int4"]] == widths
    assert parse_spec(lad["pca/rbq2"][0].spec).output_dim(384) == 64  # 128 sign bits at least
    assert parse_spec(lad["pca/binary"][0].spec).output_dim(384) == 128
    # the diagnosis names the reason of the steps it points at
    assert "95% of the variance" in next(c.why for c in lad["pca/int8"] if c.spec == "pca248/int8")
    # below d=64: steps of 4
    small = group_ladders(generate_candidates(32, n_train=5000))
    assert [parse_spec(c.spec).output_dim(32) for c in small["pca/int8"]] == [4, 8, 12, 16, 20, 24, 28]


def test_coarse_steps_are_geometric():
    lad = _ladders()
    assert [c.ram_bytes for c in coarse_steps(lad["pq8"])] == [4, 8, 16, 32, 64, 128, 384]
    assert [c.spec for c in coarse_steps(lad["rabitq"])] == ["rabitq1", "rabitq2", "rabitq5", "rabitq8"]
    assert coarse_steps([]) == []


def _search_with_oracle(thresholds, *, d=384, n_train=50_000, max_bytes=None, target=0.9):
    """Run a LadderSearch where a step passes when its bytes reach its ladder's threshold (monotone)."""
    cands = generate_candidates(d, n_train=n_train, max_bytes=max_bytes)
    s = LadderSearch(cands, d=d, n_train=n_train, target=target)
    measured = []
    while (c := s.next()) is not None:
        passed = c.ram_bytes >= thresholds.get(c.ladder, 10**9)
        s.record(c, passed, recall=target + 0.01 if passed else target - 0.1)
        measured.append(c.spec)
    return s, cands, measured


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["pq4", "pq8", "pca/int8", "pca/int4", "rabitq", "sign", "scalar"]), st.integers(1, 800)))
def test_bisection_finds_the_smallest_passing_step(thresholds):
    s, cands, measured = _search_with_oracle(thresholds)
    passing = [c.ram_bytes for c in cands if c.ram_bytes >= thresholds.get(c.ladder, 10**9)]
    if not passing:
        assert s.best_bytes == float("inf")
        return
    assert s.best_bytes == min(passing)  # what measuring the whole ladder would find
    assert len(measured) == len(set(measured)) and len(measured) < len(cands) / 2
    best = next(c for c in cands if c.spec in s.passed and s.passed[c.spec] and c.ram_bytes == s.best_bytes)
    below = s.below(best.spec)
    if below is not None:  # the step below was measured and failed
        assert s.passed[below.spec] is False
    for spec, reason in s.skipped():
        if spec.startswith("opq"):
            assert reason.startswith("OPQ")
            continue
        c = s.steps[spec]
        gated = c.ladder == "itq" and "is tried only where" in reason
        assert c.ram_bytes > s.best_bytes or "misses the target" in reason or gated, (spec, reason)


def test_bisection_walks_a_ladder_step_by_step():
    s, _, measured = _search_with_oracle({"pca/int8": 104})
    assert s.best_bytes == 104 and s.below("pca104/int8").spec == "pca96/int8" and s.passed["pca96/int8"] is False
    pca8 = [m for m in measured if m.endswith("/int8") and m.startswith("pca")]
    assert pca8[:5] == ["pca8/int8", "pca16/int8", "pca32/int8", "pca64/int8", "pca128/int8"]
    assert set(pca8[5:]) == {"pca96/int8", "pca112/int8", "pca104/int8"}  # 64 < x < 128: three bisection steps


def test_opq_only_next_to_the_pq8_boundary():
    # plain 8-bit PQ passes at 48 B; OPQ is tried at 32 B (the failing step below) and, passing, at 24 B
    cands = generate_candidates(384, n_train=50_000, max_bytes=64)
    s = LadderSearch(cands, d=384, n_train=50_000, target=0.9)
    tried = []
    while (c := s.next()) is not None:
        if c.family == "opq":
            tried.append(c.spec)
            passed = c.ram_bytes >= 24
        else:
            passed = c.ladder == "pq8" and c.ram_bytes >= 48
        s.record(c, passed, recall=0.95 if passed else 0.89)  # plain PQ fails within 0.03 everywhere
    assert tried == ["opq32/pq32x8", "opq24/pq24x8"]  # at most MAX_OPQ = 2 fits
    assert s.best_bytes == 24 and s.below("opq24/pq24x8") is None  # the next OPQ step is left untried
    assert s.below("opq32/pq32x8").spec == "opq24/pq24x8"
    # one step down only where plain PQ there came close too
    s3 = LadderSearch(cands, d=384, n_train=50_000, target=0.9)
    tried = []
    while (c := s3.next()) is not None:
        tried += [c.spec] if c.family == "opq" else []
        passed = c.ram_bytes >= 32 if c.family == "opq" else c.ladder == "pq8" and c.ram_bytes >= 48
        close = c.ladder == "pq8" and c.ram_bytes == 32
        s3.record(c, passed, recall=0.95 if passed else (0.89 if close else 0.7))
    assert tried == ["opq32/pq32x8"] and s3.below("opq32/pq32x8") is None
    assert any(spec == "opq24/pq24x8" and "recalls 0.7000, more than 0.03 short" in r for spec, r in s3.skipped())
    # plain PQ that did not come close: no OPQ at all
    s2 = LadderSearch(cands, d=384, n_train=50_000, target=0.9)
    while (c := s2.next()) is not None:
        passed = c.ladder == "pq8" and c.ram_bytes >= 48
        s2.record(c, passed, recall=0.95 if passed else 0.5)
    assert not s2.opq and any("recalls less" in r for _, r in s2.skipped())


def test_itq_only_where_the_plain_sign_code_came_close():
    cands = generate_candidates(384, n_train=50_000, max_bytes=128)

    def run(binary_recall):
        s = LadderSearch(cands, d=384, n_train=50_000, target=0.9)
        order = []
        while (c := s.next()) is not None:
            order.append(c.spec)
            if c.spec == "itq/binary":
                passed, recall = True, 0.91
            elif c.spec == "binary":
                passed, recall = False, binary_recall
            else:
                passed, recall = c.ram_bytes >= 64, 0.5
            s.record(c, passed, recall=recall)
        return s, order

    s, order = run(0.88)  # 0.02 short: the rotation may close it
    assert "itq/binary" in order and s.best_bytes == 48 and order.index("itq/binary") > order.index("binary")
    assert s.below("itq/binary") is None and s.passed["itq/binary"]
    s, order = run(0.6)  # far off: no ITQ fit at all
    assert not any(o.startswith("itq") for o in order) and s.best_bytes == 64
    assert any(spec == "itq/binary" and "is tried only where binary alone" in r for spec, r in s.skipped())
