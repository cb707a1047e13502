"""MLServer, the second peer of bench/serving.py: the server a platform team would pick instead of ours.

MLServer 1.7.1 with its scikit-learn runtime (mlserver-sklearn) in its own virtualenv, bench/.venv-mlserver
(git-ignored, created on first use; 1.7.1 needs uvloop < 0.21). scikit-learn, pandas and numpy are pinned
to the versions of the project's environment, so it unpickles the same fitted pipeline the same way.
It serves the model over the V2 inference protocol: one request holds the rows as one input per column
with the pandas codec (`"content_type": "pd"`), asks for the `predict_proba` output, and MLServer hands
the pipeline a DataFrame. Production settings: debug off, `parallel_workers` = the bench's workers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = REPO_ROOT / "bench" / ".venv-mlserver"
MODEL_NAME = "churn"
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
# Exact versions; uvloop 0.20.0 is the newest below 0.21, which MLServer 1.7.1 does not run with.
PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.20.0",
        *(f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "joblib")))


def mlserver_command() -> list[str]:
    """`mlserver start` from the virtualenv, created (or redone after an interrupted install) on first use."""
    python = VENV / "bin" / "python"
    ready = VENV / ".installed"
    pins = " ".join(PINS) + "\n"
    if not ready.exists() or ready.read_text() != pins:
        print(f"creating {VENV} with {', '.join(PINS)} (first use only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PINS], check=True)
        ready.write_text(pins)
    return [str(VENV / "bin" / "mlserver"), "start"]


def write_repository(root: Path, model_dir: Path, *, http_port: int, grpc_port: int, metrics_port: int,
                     workers: int) -> Path:
    """The folder `mlserver start` reads: server settings.json and the model's model-settings.json."""
    root.mkdir(parents=True)
    settings = {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port,
                "parallel_workers": workers, "debug": False, "metrics_dir": str(root / ".metrics")}
    (root / "settings.json").write_text(json.dumps(settings))
    (root / MODEL_NAME).mkdir()
    model_settings = {"name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
                      "parameters": {"uri": str(model_dir / "model.joblib")}}
    (root / MODEL_NAME / "model-settings.json").write_text(json.dumps(model_settings))
    return root


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def v2_request(frame: pd.DataFrame) -> bytes:
    """A V2 inference request for these rows with the pandas codec; missing values are JSON null."""
    inputs = []
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column)
        input_: dict[str, Any] = {"name": str(name), "shape": [len(frame)], "datatype": "FP64" if numeric else "BYTES",
                                  "data": [_cell(value) for value in column.tolist()]}
        if not numeric:
            input_["parameters"] = {"content_type": "str"}
        inputs.append(input_)
    document = {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    return json.dumps(document).encode()


def probabilities(answer: bytes) -> list[list[float]]:
    """The predict_proba output of a V2 response, as rows."""
    output = next(item for item in json.loads(answer)["outputs"] if item["name"] == "predict_proba")
    rows, classes = output["shape"]
    data = output["data"]
    return [data[i * classes:(i + 1) * classes] for i in range(rows)]
