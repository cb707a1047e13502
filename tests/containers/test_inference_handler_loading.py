"""Loading a user's inference.py: what is refused at load, by name, before any request (in process)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from containers.inference.custom_flow import HandlerFlow
from containers.inference.handlers import HandlerError, UserHandlers, call_handler


def write_code(model_dir: Path, code: str) -> None:
    (model_dir / "code").mkdir(parents=True, exist_ok=True)
    (model_dir / "code" / "inference.py").write_text(code, encoding="utf-8")


def test_no_code_folder_means_no_handlers(tmp_path: Path) -> None:
    assert UserHandlers.load(tmp_path) is None


def test_transform_fn_with_another_handler_is_refused(tmp_path: Path) -> None:
    write_code(tmp_path, "def transform_fn(m, d, c, a):\n    return d\n\ndef input_fn(d, c):\n    return d\n")
    with pytest.raises(HandlerError, match="transform_fn cannot be combined with input_fn"):
        UserHandlers.load(tmp_path)


def test_a_handler_that_is_not_a_function_is_refused(tmp_path: Path) -> None:
    write_code(tmp_path, "predict_fn = 3\n")
    with pytest.raises(HandlerError, match="predict_fn must be functions"):
        UserHandlers.load(tmp_path)


def test_the_code_folder_is_importable_from_inference_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader puts code/ on sys.path (as the toolkit does): give it a copy this test throws away.
    monkeypatch.setattr(sys, "path", [*sys.path])
    monkeypatch.delitem(sys.modules, "helper_for_test_handlers", raising=False)
    write_code(tmp_path, "from helper_for_test_handlers import VALUE\n\ndef output_fn(p, a):\n    return VALUE\n")
    (tmp_path / "code" / "helper_for_test_handlers.py").write_text("VALUE = 'from a helper'\n")
    handlers = UserHandlers.load(tmp_path)
    assert handlers is not None
    assert handlers.names == ["output_fn"]
    assert handlers.output_fn is not None
    assert handlers.output_fn(None, "text/plain") == "from a helper"
    del sys.modules["helper_for_test_handlers"]


def test_defaults_that_need_the_kit_model_are_named_when_it_is_missing(tmp_path: Path) -> None:
    write_code(tmp_path, "def model_fn(model_dir):\n    return object()\n")
    handlers = UserHandlers.load(tmp_path)
    assert handlers is not None
    needs = r"the default input_fn and predict_fn need metadata\.json and model\.joblib"
    with pytest.raises(HandlerError, match=needs):
        HandlerFlow(handlers, tmp_path, "application/json")


def test_model_fn_that_raises_is_a_load_error_naming_it(tmp_path: Path, trained_model_dir: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(trained_model_dir, model_dir)
    write_code(model_dir, "def model_fn(model_dir):\n    raise FileNotFoundError('weights.bin')\n")
    handlers = UserHandlers.load(model_dir)
    assert handlers is not None
    with pytest.raises(HandlerError, match=r"model_fn failed: FileNotFoundError: weights.bin") as caught:
        HandlerFlow(handlers, model_dir, "application/json")
    assert caught.value.status == 500


def test_a_status_outside_4xx_5xx_is_not_trusted() -> None:
    class OddStatusError(Exception):
        status_code = 200

    def handler() -> None:
        raise OddStatusError("fine?")

    with pytest.raises(HandlerError) as caught:
        call_handler("predict_fn", handler)
    assert caught.value.status == 500
