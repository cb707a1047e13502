"""Training ships the data schema and the user's inference code inside the model folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from containers.contracts.data_schema import SCHEMA_FILE, ColumnSchema, DataSchema, load_schema
from containers.contracts.model_artifact import ModelArtifactError, add_model_extras
from tests.containers.conftest import make_tabular_frame, run_entry_point, write_training_job


def test_training_job_copies_schema_and_code_channel_into_the_model(tmp_path: Path) -> None:
    base = tmp_path / "ml"
    write_training_job(base, make_tabular_frame(300, seed=3), {"n_estimators": "5"})
    schema = DataSchema(columns={"color": ColumnSchema(type="categorical", categories=("red", "green", "blue"))})
    (base / "input" / "data" / "train" / SCHEMA_FILE).write_text(schema.to_json())
    code = base / "input" / "data" / "inference_code"
    (code / "helpers").mkdir(parents=True)
    (code / "inference.py").write_text("def output_fn(prediction, accept):\n    return 'ok'\n")
    (code / "helpers" / "__init__.py").write_text("")
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(base)})
    assert result.returncode == 0, result.stderr
    model = base / "model"
    assert load_schema(model) == schema
    assert (model / "code" / "inference.py").read_text().startswith("def output_fn")
    assert (model / "code" / "helpers" / "__init__.py").is_file()
    assert "shipped with the model: data-schema.json, code/" in result.stdout


def test_without_schema_or_code_the_model_folder_is_as_before(tmp_path: Path) -> None:
    train, code, model = tmp_path / "train", tmp_path / "code", tmp_path / "model"
    train.mkdir()
    assert add_model_extras(model, train_channel=train, code_channel=code) == []
    assert list(model.iterdir()) == []


def test_a_code_channel_without_inference_py_is_named(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "inferense.py").write_text("")
    with pytest.raises(ModelArtifactError, match=r"channel 'inference_code' \(.*\) has no inference.py"):
        add_model_extras(tmp_path / "model", train_channel=tmp_path, code_channel=code)
