"""Exact duplicates are counted exactly, in the stored dtype, block by block."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lowdim import ParameterError, ValidationError
from lowdim.diagnose import _duplicates as dup_module
from lowdim.diagnose import count_duplicates, diagnose


def test_counts_copies_of_earlier_rows():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1000, 32)).astype(np.float32)
    X = np.vstack([base, base[:100], base[:7], base[500:501]])
    X = X[rng.permutation(len(X))]
    assert count_duplicates(X) == 108
    assert count_duplicates(base) == 0


def test_compared_in_the_stored_dtype():
    a = np.full(8, 0.1, dtype=np.float64)
    b = a + 1e-7  # different in float64, the same once stored as float16
    assert count_duplicates(np.vstack([a, b])) == 0
    assert count_duplicates(np.vstack([a, b]).astype(np.float16)) == 1


def test_negative_zero_equals_zero():
    X = np.array([[0.0, 1.0], [-0.0, 1.0], [1.0, -0.0]], dtype=np.float16)
    assert count_duplicates(X) == 1


def test_big_endian_rows():
    X = np.array([[1.5, 2.0], [1.5, 2.0], [2.0, 1.5]], dtype=">f4")
    assert count_duplicates(X) == 1


def test_memmap_and_block_boundaries(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((300, 24)).astype(np.float16)
    X = np.vstack([base, base[::3], base[:1], base[:1]])
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert count_duplicates(mm, block_rows=7) == 102
    assert diagnose(mm, sample=200).n_duplicates == 102


def test_exact_even_when_every_hash_collides(monkeypatch):
    # Force one hash for all rows: the count must come from the values alone.
    monkeypatch.setattr(dup_module, "row_hashes", lambda raw: np.zeros(len(raw), dtype=np.uint64))
    rng = np.random.default_rng(2)
    base = rng.standard_normal((50, 5))
    X = np.vstack([base, base[:10], base[:10], base[3:4]])
    assert count_duplicates(X, block_rows=16) == 21


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 60), st.integers(1, 5)),
        elements=st.sampled_from([0.0, -0.0, 1.0, 2.5]),
    ),
    st.integers(1, 17),
)
def test_matches_numpy_unique(X, block):
    expected = len(X) - len(np.unique(X + np.float32(0), axis=0))
    assert count_duplicates(X, block_rows=block) == expected


def test_nan_row_numbers_are_global():
    X = np.zeros((20, 3), dtype=np.float32)
    X[13, 1] = np.nan
    with pytest.raises(ValidationError, match=r"NaN or infinity in row\(s\) 13 \(first bad block: rows 12-15\)"):
        count_duplicates(X, block_rows=4)


def test_bad_block_rows():
    with pytest.raises(ParameterError, match="'block_rows' parameter of count_duplicates"):
        count_duplicates(np.eye(3), block_rows=0)
