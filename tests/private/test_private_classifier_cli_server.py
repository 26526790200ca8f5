"""The classifier's edges: ``lowdim private classify | predict | info``, ``load_release``, ``POST /summaries/{name}/predict``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import balanced_accuracy_score
from typer.testing import CliRunner

from lowdim import Client
from lowdim._npzfile import write_npz_file
from lowdim.cli import app
from lowdim.exceptions import DimensionError, FileFormatError
from lowdim.private import PrivateClassifier, PrivateSummary, load_release
from lowdim.server import create_app

runner = CliRunner()
NAMES = np.array(["ant", "bee", "cat", "dog"])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """4 well separated classes of unit rows in 16-d (train 2,000, test 300); labels as .npy, .txt and .jsonl."""
    root = tmp_path_factory.mktemp("clf")
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 2
    y = rng.choice(4, 2300, p=[0.4, 0.3, 0.2, 0.1])
    X = centres[y] + 0.6 * rng.standard_normal((2300, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.save(root / "X.npy", X[:2000])
    np.save(root / "Xt.npy", X[2000:])
    np.save(root / "Xt12.npy", X[2000:, :12])
    np.save(root / "y.npy", y[:2000])
    np.save(root / "yt.npy", y[2000:])
    (root / "y.txt").write_text("\n".join(NAMES[y[:2000]]) + "\n")
    (root / "yt.txt").write_text("\n".join(NAMES[y[2000:]]) + "\n")
    (root / "y.jsonl").write_text("".join(json.dumps({"id": i, "animal": str(NAMES[c])}) + "\n" for i, c in enumerate(y[:2000])))
    (root / "yt.jsonl").write_text("".join(json.dumps({"animal": str(NAMES[c])}) + "\n" for c in y[2000:]))
    (root / "classes.txt").write_text("ant\nbee\ncat\ndog\nemu\n")  # public label set: emu has no row
    return root


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def classify(files: Path, out: Path, labels: str = "y.npy", *extra: object) -> str:
    return invoke(
        "private",
        "classify",
        files / "X.npy",
        files / labels,
        "-o",
        out,
        "--epsilon",
        "1",
        "--delta",
        "1e-5",
        "--bound",
        "1",
        "--seed",
        "0",
        *extra,
    )


def test_classify_then_predict_equals_python(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf.npz"
    text = classify(files, out)
    assert "released linear classifier of 2,000 rows x 16, 4 classes (score cosine)" in text
    assert "classes (score cosine releases no count): 0, 1, 2, 3" in text and "epsilon=1, delta=1e-05" in text
    text = invoke(
        "private",
        "predict",
        out,
        files / "Xt.npy",
        "-o",
        tmp_path / "p.json",
        "--proba",
        "--truth",
        files / "yt.npy",
        "--show",
        "3",
    )
    body = json.loads((tmp_path / "p.json").read_text())
    clf = PrivateClassifier.load(out)
    Xt, yt = np.load(files / "Xt.npy"), np.load(files / "yt.npy")
    pred = clf.predict(Xt)
    assert body["labels"] == pred.tolist() and body["classes"] == [0, 1, 2, 3]
    np.testing.assert_allclose(body["proba"], clf.predict_proba(Xt))
    assert body["accuracy"] == pytest.approx(np.mean(pred == yt)) and body["accuracy"] > 0.9
    assert body["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(yt, pred))
    assert f"accuracy {body['accuracy']:.4f}, balanced accuracy {body['balanced_accuracy']:.4f} on 300 labelled queries" in text
    assert f"0: {pred[0]} p=" in text and "3:" not in text.split("accuracy")[0].split("ms")[1]
    invoke("private", "predict", out, files / "Xt.npy", "-o", tmp_path / "p.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), pred)
    invoke("private", "predict", out, files / "Xt.npy", "-o", tmp_path / "pp.npy", "--proba")
    assert np.load(tmp_path / "pp.npy").shape == (300, 4)


def test_text_labels_declared_classes_and_mean_score(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf.npz"
    text = classify(files, out, "y.txt", "--classes", files / "classes.txt")
    assert "5 classes (score cosine)" in text and "ant, bee, cat, dog, emu" in text
    clf = PrivateClassifier.load(out)
    assert clf.classes_.tolist() == ["ant", "bee", "cat", "dog", "emu"]  # emu, declared public, has a (noise) summary
    text = invoke("private", "predict", out, files / "Xt.npy", "--truth", files / "yt.txt", "-o", tmp_path / "p.json")
    body = json.loads((tmp_path / "p.json").read_text())
    assert body["labels"] == clf.predict(np.load(files / "Xt.npy")).tolist() and body["accuracy"] > 0.85
    assert "proba" not in body
    # score "mean" releases a count per class, and classify prints them
    text = classify(files, out, "y.txt", "--score", "mean")
    counts = PrivateClassifier.load(out).counts_
    assert "4 classes (score mean)" in text and np.all(np.isfinite(counts))
    assert f"ant ~{counts[0]:,.0f} rows (released count)" in text and abs(counts[0] - np.sum(np.load(files / "y.npy") == 0)) < 100


def test_jsonl_labels(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf.npz"
    classify(files, out, "y.jsonl", "--label-key", "animal", "--f", "gaussian", "--bandwidth", "1", "--components", "256")
    clf = PrivateClassifier.load(out)
    assert clf.classes_.tolist() == NAMES.tolist() and clf.settings_["f"] == "gaussian"
    text = invoke("private", "predict", out, files / "Xt.npy", "--truth", files / "yt.jsonl", "--label-key", "animal")
    acc = float(text.split("accuracy ")[1].split(",")[0])
    truth = NAMES[np.load(files / "yt.npy")]
    assert acc == pytest.approx(np.mean(clf.predict(np.load(files / "Xt.npy")) == truth), abs=1e-4) and acc > 0.85


def test_info_and_load_release_read_both_kinds(files: Path, tmp_path: Path) -> None:
    clf_path, sum_path = tmp_path / "clf.npz", tmp_path / "s.npz"
    classify(files, clf_path)
    invoke("private", "build", files / "X.npy", "--f", "linear", "--epsilon", "0.5", "--bound", "1", "-o", sum_path)
    assert isinstance(load_release(clf_path), PrivateClassifier) and isinstance(load_release(sum_path), PrivateSummary)
    text = invoke("private", "info", clf_path, sum_path)
    assert "linear classifier, 4 classes, width 16, score cosine" in text
    assert "these 2 releases together are (epsilon=1.5, delta=1e-05)-DP" in text
    records = json.loads(runner.invoke(app, ["private", "info", str(clf_path), "--json"]).output)
    info = records[0]
    assert info["kind"] == "lowdim.private.PrivateClassifier" and info["classes"] == [0, 1, 2, 3] and info["n_features"] == 16
    assert info["score"] == "cosine" and all(math.isnan(c) for c in info["counts"]) and info["record"]["epsilon"] == 1.0
    write_npz_file(tmp_path / "other.npz", {"format_version": 1, "kind": "demo"}, {"a": np.zeros(2)})
    with pytest.raises(FileFormatError, match="holds a demo, not a released private summary .* or classifier"):
        load_release(tmp_path / "other.npz")
    with pytest.raises(FileFormatError, match="does not exist"):
        load_release(tmp_path / "none.npz")


def test_ledger_charges_the_classifier(files: Path, tmp_path: Path, cli_error) -> None:
    ledger = tmp_path / "ledger.json"
    text = classify(files, tmp_path / "a.npz", "y.npy", "--ledger", ledger, "--budget", "1.5,1e-4")
    assert "spent epsilon=1, delta=1e-05 of 1.5" in text
    base = ["private", "classify", str(files / "X.npy"), str(files / "y.npy"), "--bound", "1", "--ledger", str(ledger)]
    err = cli_error([*base, "--epsilon", "1", "-o", str(tmp_path / "b.npz")])
    assert "but the budget has 0.5 of 1.5 left" in err and not (tmp_path / "b.npz").exists()
    assert json.loads(ledger.read_text())["entries"][0]["label"] == "PrivateClassifier(linear, 4 classes)"


@pytest.mark.parametrize(
    "labels, extra, message",
    [
        ("yt.npy", [], "LABELS yt.npy has 300 labels, but DATA X.npy has 2,000 rows"),
        ("y.jsonl", [], "is a .jsonl file: say which field holds the label with --label-key"),
        ("y.jsonl", ["--label-key", "kind"], "line 1 has no key 'kind' (it has: id, animal)"),
        ("y.npy", ["--label-key", "animal"], "--label-key is for .jsonl labels"),
        ("y.txt", ["--classes", "classes3.txt"], "which is not one of the declared classes (3 of them)"),
        ("y.npy", ["--score", "nope"], "'score' parameter of PrivateClassifier must be one of"),
        ("y.npy", ["--bound-from", "Xt.npy", "--bound", "1"], "give --bound or --bound-from, not both"),
    ],
)
def test_classify_errors_are_one_line(
    files: Path, tmp_path: Path, cli_error, labels: str, extra: list[str], message: str
) -> None:
    (files / "classes3.txt").write_text("ant\nbee\ncat\n")
    extra = [str(files / e) if e.endswith((".txt", ".npy")) else e for e in extra]
    argv = ["private", "classify", str(files / "X.npy"), str(files / labels), "-o", str(tmp_path / "c.npz"), "--epsilon", "1"]
    if "--bound" not in extra:
        extra = [*extra, "--bound", "1"]
    assert message in cli_error([*argv, *extra])
    assert not (tmp_path / "c.npz").exists()


def test_predict_and_query_errors_are_one_line(files: Path, tmp_path: Path, cli_error) -> None:
    clf_path, sum_path = tmp_path / "clf.npz", tmp_path / "s.npz"
    classify(files, clf_path)
    invoke("private", "build", files / "X.npy", "--f", "linear", "--epsilon", "1", "--bound", "1", "-o", sum_path)
    err = cli_error(["private", "predict", str(clf_path), str(files / "Xt12.npy")])
    assert "X has 12 features, but this classifier expects 16" in err
    err = cli_error(["private", "predict", str(sum_path), str(files / "Xt.npy")])
    assert "is a private summary, not a classifier: read it with 'lowdim private query'" in err
    err = cli_error(["private", "query", str(clf_path), str(files / "Xt.npy")])
    assert "is a private classifier, not a summary: read it with 'lowdim private predict'" in err
    err = cli_error(["private", "predict", str(clf_path), str(files / "Xt.npy"), "--truth", str(files / "y.npy")])
    assert "--truth y.npy has 2,000 labels, but QUERIES Xt.npy has 300 rows" in err
    err = cli_error(["private", "predict", str(clf_path), str(files / "Xt.npy"), "--label-key", "animal"])
    assert "--label-key goes with --truth" in err


# -- the service ----------------------------------------------------------------------------------
def test_served_classifier_beside_a_summary(files: Path, tmp_path: Path) -> None:
    X, y, Xt = np.load(files / "X.npy"), np.load(files / "y.npy"), np.load(files / "Xt.npy")
    clf = PrivateClassifier("linear", epsilon=1.0, bound=1.0, noise_seed=0).fit(X, NAMES[y])
    summary = PrivateSummary("linear", epsilon=1.0, bound=1.0, noise_seed=0).fit(X[:, :12])
    paths = {"animals": clf.save(tmp_path / "clf.npz"), "lin": summary.save(tmp_path / "s.npz")}
    with TestClient(create_app([], summaries=paths, max_batch=128)) as http:
        listing = {x["name"]: x for x in http.get("/summaries").json()["summaries"]}
        assert listing["animals"]["kind"] == "classifier" and listing["lin"]["kind"] == "summary"
        info = http.get("/summaries/animals").json()
        assert info["classes"] == NAMES.tolist() and info["counts"] == [None] * 4 and info["n_features"] == 16
        body = http.post("/summaries/animals/predict", json={"queries": Xt[:100].tolist()}).json()
        assert body["labels"] == clf.predict(Xt[:100]).tolist() and body["classes"] == NAMES.tolist() and "proba" not in body
        body = http.post("/summaries/animals/predict", json={"queries": Xt[:100].tolist(), "proba": True}).json()
        P = np.array(body["proba"])
        np.testing.assert_allclose(P.sum(axis=1), 1.0)
        np.testing.assert_allclose(P, clf.predict_proba(Xt[:100]), rtol=1e-5)
        # each kind has its endpoint; the other one is a one-line 422 that names the right one
        bad = http.post("/summaries/animals/query", json={"queries": Xt[:1].tolist()})
        assert (
            bad.status_code == 422
            and "'animals' is a private classifier: use POST /summaries/animals/predict" in bad.json()["error"]
        )
        bad = http.post("/summaries/lin/predict", json={"queries": Xt[:1, :12].tolist()})
        assert bad.status_code == 422 and "'lin' is a private summary: use POST /summaries/lin/query" in bad.json()["error"]
        assert http.post("/summaries/lin/query", json={"queries": Xt[:1, :12].tolist()}).status_code == 200
        # the same caps as /query
        too_many = http.post("/summaries/animals/predict", json={"queries": Xt[:129].tolist()})
        assert too_many.status_code == 422 and "max_batch" in too_many.json()["error"]
        bad = http.post("/summaries/animals/predict", json={"queries": Xt[:2, :12].tolist()})
        assert bad.status_code == 422 and "has 12 features, but this classifier expects 16" in bad.json()["error"]
        bad = http.post("/summaries/animals/predict", json={"queries": Xt[:1].tolist(), "probas": True})
        assert bad.status_code == 422 and "proba" in bad.json()["error"]
        assert http.post("/summaries/nope/predict", json={"queries": Xt[:1].tolist()}).status_code == 404
        # the OpenAPI schema names the served releases and each body's width
        schema = http.get("/openapi.json").json()
        assert schema["paths"]["/summaries/{name}/predict"]["post"]["parameters"][0]["schema"]["enum"] == ["animals", "lin"]
        models = schema["components"]["schemas"]
        assert models["SummaryPredictRequest"]["properties"]["queries"]["items"]["minItems"] == 16
        assert models["SummaryQueryRequest"]["properties"]["queries"]["items"]["maxItems"] == 12
        # the Client: a remote classifier reads like the local one (batches split at max_batch)
        remote = Client(http=http).summary("animals")
        assert type(remote).__name__ == "RemoteClassifier" and type(Client(http=http).summary("lin")).__name__ == "RemoteSummary"
        np.testing.assert_array_equal(remote.predict(Xt), clf.predict(Xt))
        np.testing.assert_allclose(remote.predict_proba(Xt), clf.predict_proba(Xt), rtol=1e-5)
        assert remote.classes_.tolist() == NAMES.tolist() and remote.n_features_in_ == 16
        assert remote.record_.mechanism == clf.record_.mechanism and remote.record_.epsilon == 1.0  # JSON: inf scales -> None
        assert remote.info()["kind"] == "classifier"
        with pytest.raises(DimensionError, match="this classifier expects 16"):
            remote.predict(Xt[:, :12])
