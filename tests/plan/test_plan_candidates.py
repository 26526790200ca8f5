"""Candidate generation: divisibility, max_bytes, rerank factors, widths from the diagnosis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim.exceptions import ParameterError
from lowdim.plan import CandidateSpec, generate_candidates, pca_widths, rerank_factors
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
    assert {"scalar", "sign", "itq", "pq4", "pca"} <= {c.family for c in cands}
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


def test_rerank_factors_never_exceed_max_rerank():
    for r in range(0, 13):
        fs = rerank_factors(r)
        assert fs[0] == 0 and max(fs) <= r and list(fs) == sorted(set(fs))
        assert 1 not in fs  # rerank 1 only reorders the top k: recall@k cannot change
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
