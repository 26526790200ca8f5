"""tune_fastrp on a seeded planted-partition graph: it must find a setting that separates the blocks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from lowdim.encoders import FastRP, tune_fastrp
from lowdim.exceptions import ParameterError, ValidationError


def planted(n_blocks=4, size=40, p_in=0.15, p_out=0.01, seed=0):
    G = nx.planted_partition_graph(n_blocks, size, p_in, p_out, seed=seed)
    return np.array(list(G.edges())), np.repeat(np.arange(n_blocks), size)


def test_tuning_finds_a_good_setting_and_reports_every_trial():
    edges, y = planted()
    t = tune_fastrp(edges, y, dim=32, search_dim=16, n_trials=5, n_final=2, random_state=0)
    assert t.macro_f1 > 0.8 and t.micro_f1 > 0.8
    assert len(t.trials) == 7 and [tr["dim"] for tr in t.trials] == [16] * 5 + [32] * 2
    assert t.trials[0]["params"]["weights"] == list(FastRP().weights)  # the defaults are always tried
    assert t.macro_f1 == max(tr["macro_f1"] for tr in t.trials[5:])
    again = tune_fastrp(edges, y, dim=32, search_dim=16, n_trials=5, n_final=2, random_state=0)
    assert again.params == t.params and again.macro_f1 == t.macro_f1
    X = t.estimator(random_state=0).fit_transform(edges)
    assert X.shape == (len(y), 32)


def test_tuning_with_features_searches_the_feature_share():
    edges, y = planted(p_in=0.05, p_out=0.03)
    F = np.eye(4)[y] + np.random.default_rng(0).standard_normal((len(y), 4))
    t = tune_fastrp(edges, y, dim=16, search_dim=8, n_trials=3, n_final=1, orbit_choices=[None], features=F)
    assert {"feature_ratio", "self_influence"} <= set(t.params)


def test_tuning_refuses_bad_arguments():
    edges, y = planted()
    with pytest.raises(ParameterError, match="validation_fraction"):
        tune_fastrp(edges, y, validation_fraction=1.5)
    with pytest.raises(ParameterError, match="Unknown orbit"):
        tune_fastrp(edges, y, orbit_choices=["cube=1"])
    with pytest.raises(ValidationError, match="labelled nodes"):
        tune_fastrp(edges, np.full(len(y), -1))
