"""Benchmark baseline: the classic SageMaker bring-your-own-container server (Flask behind gunicorn).

Per request: `pandas.read_csv` -> the fitted pipeline on a DataFrame -> CSV, as in AWS's
scikit_bring_your_own example. It answers in the inference server's CSV shape
(`label,p(class 0),p(class 1)...`) so the benchmark can check that both give identical bytes;
labels come from the same predict_proba call (one pipeline call per request, like the example's
single `predict`). Started by bench/serving.py: `gunicorn -w 2 app:app` with BASELINE_MODEL_DIR set.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import flask
import numpy as np
import pandas as pd

from containers.contracts.model_artifact import load_model_artifact, model_input_frame

pipeline, metadata = load_model_artifact(Path(os.environ["BASELINE_MODEL_DIR"]))
app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    return flask.Response(response="\n", status=200, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def invocations() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response(response="This predictor only supports CSV data", status=415, mimetype="text/plain")
    data = pd.read_csv(io.StringIO(flask.request.data.decode("utf-8")), header=None, names=metadata.feature_names)
    probabilities = pipeline.predict_proba(model_input_frame(data, metadata.features))
    classes = list(metadata.classes or [])
    if probabilities.shape[1] == 2:
        labels = [classes[int(p >= 0.5)] for p in probabilities[:, 1]]
    else:
        labels = [classes[i] for i in np.argmax(probabilities, axis=1)]
    out = io.StringIO()
    for label, row in zip(labels, probabilities.tolist(), strict=True):
        out.write(",".join([str(label), *map(repr, row)]) + "\n")
    return flask.Response(response=out.getvalue(), status=200, mimetype="text/csv")
