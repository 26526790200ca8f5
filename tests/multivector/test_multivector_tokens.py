"""TokenSets: packing ragged token sets into CSR, and every bad input refused with one line."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.exceptions import DimensionError, DTypeError, ValidationError
from lowdim.multivector import TokenSets, check_token_sets


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, 6)).astype(np.float32) for n in (3, 1, 4)]


def test_from_list_packs_rows_and_offsets(sets):
    ts = TokenSets.from_list(sets)
    assert ts.rows.shape == (8, 6) and ts.rows.dtype == np.float32
    assert ts.offsets.tolist() == [0, 3, 4, 8] and ts.offsets.dtype == np.int64
    assert len(ts) == 3 and ts.dim == 6 and ts.n_tokens == 8
    assert ts.lengths.tolist() == [3, 1, 4]
    assert ts.set_ids().tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    for got, want in zip(ts, sets):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ts[-1], sets[2])


def test_select_and_slice(sets):
    ts = TokenSets.from_list(sets)
    sub = ts.select([2, 0, 2])
    assert sub.offsets.tolist() == [0, 4, 7, 11]
    np.testing.assert_array_equal(sub.rows, np.concatenate([sets[2], sets[0], sets[2]]))
    part = ts.slice(1, 3)
    assert part.offsets.tolist() == [0, 1, 5]
    np.testing.assert_array_equal(part[1], sets[2])


def test_check_token_sets_accepts_every_form(sets):
    ts = TokenSets.from_list(sets)
    assert check_token_sets(ts) is ts
    pair = check_token_sets((ts.rows, ts.offsets))
    np.testing.assert_array_equal(pair.rows, ts.rows)
    listed = check_token_sets(sets)
    np.testing.assert_array_equal(listed.offsets, ts.offsets)
    # float16 rows stay float16 (a memmap of a collection is not copied)
    half = check_token_sets((ts.rows.astype(np.float16), ts.offsets))
    assert half.rows.dtype == np.float16 and half[0].dtype == np.float32


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda s: (np.concatenate(s), np.array([0, 3, 9])),
            ValidationError,
            "offsets run from 0 to 9, but there are 8 token rows",
        ),
        (lambda s: (np.concatenate(s), np.array([1, 3, 8])), ValidationError, "offsets\\[0\\] == 0"),
        (lambda s: (np.concatenate(s), np.array([0, 5, 3, 8])), ValidationError, "decrease at set 1"),
        (
            lambda s: (np.concatenate(s), np.array([0, 3, 3, 8])),
            ValidationError,
            "1 empty set\\(s\\) \\(no tokens\\), first at set 1",
        ),
        (lambda s: (np.concatenate(s), np.array([0.0, 3.0, 8.0])), DTypeError, "offsets have dtype float64"),
        (lambda s: (np.concatenate(s).astype(np.int32), np.array([0, 8])), DTypeError, "integer dtype int32"),
        (lambda s: [s[0], np.zeros((0, 6), np.float32)], ValidationError, "token sets\\[1\\] is empty"),
        (lambda s: [s[0], s[1][:, :5]], DimensionError, "token sets\\[1\\] has 5 features, but token sets\\[0\\] expects 6"),
        (lambda s: [s[0], np.ones(6)], DimensionError, "token sets\\[1\\] is 1-D"),
        (lambda s: [], ValidationError, "empty \\(0 sets\\)"),
        (lambda s: np.concatenate(s), DimensionError, "one 2-D array of shape \\(8, 6\\)"),
        (lambda s: "tokens", DTypeError, "must be a list of \\(n_i, d\\) arrays"),
    ],
)
def test_bad_input_is_one_line_error(sets, make, error, match):
    with pytest.raises(error, match=match) as info:
        check_token_sets(make(sets))
    assert "\n" not in str(info.value)


def test_offsets_of_wrong_shape(sets):
    with pytest.raises(DimensionError, match="offsets have shape \\(1, 2\\); expected \\(n \\+ 1,\\)"):
        TokenSets.from_csr(np.concatenate(sets), np.array([[0, 8]]))


def test_nan_and_width_are_refused(sets):
    rows = np.concatenate(sets)
    rows[5, 2] = np.nan
    with pytest.raises(ValidationError, match="NaN or infinity in 1 token row\\(s\\): 5"):
        check_token_sets((rows, np.array([0, 3, 4, 8])))
    bad = [s.copy() for s in sets]
    bad[2][0, 0] = np.inf
    with pytest.raises(ValidationError, match="token sets\\[2\\] contains NaN or infinity"):
        check_token_sets(bad)
    with pytest.raises(DimensionError, match="have 6 features, but this encoder expects 4"):
        check_token_sets((np.concatenate(sets), np.array([0, 3, 4, 8])), n_features=4)
    with pytest.raises(DimensionError, match="have 6 features, but this encoder expects 4"):
        check_token_sets(TokenSets.from_list(sets), n_features=4)
