"""`inference.code_dir`: the Train step's `code` channel, uploaded by `mlops pipeline run` (moto here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.naming import Names
from config.settings import EnvironmentConfig, InferenceCodeConfig, load_environment
from mlops import runs
from mlops.aws import AwsTarget, client
from pipelines.contract import TRAIN, DefinitionError
from pipelines.definition import build_pipeline_definition
from pipelines.definition_json import iter_steps
from pipelines.inference_code import inference_code_files, inference_code_uri

EXAMPLE = "examples/inference_code"


def with_code(code_dir: str) -> EnvironmentConfig:
    env = load_environment("dev")
    return env.model_copy(update={"inference": InferenceCodeConfig(code_dir=code_dir)})


def test_without_inference_code_train_has_only_the_data_channels() -> None:
    env = load_environment("dev")
    assert inference_code_uri(env) is None
    assert inference_code_files(env) == {}


def test_the_train_step_reads_the_code_folder_as_its_code_channel() -> None:
    env = with_code(EXAMPLE)
    uri = inference_code_uri(env)
    assert uri is not None
    assert uri.startswith(f"s3://{Names.of(env).bucket('artifacts')}/{Names.of(env).pipeline}/inference-code/")
    definition = build_pipeline_definition(env, image_tag="test")
    train = next(step for step in iter_steps(definition) if step["Name"] == TRAIN)
    channels = {item["ChannelName"]: item for item in train["Arguments"]["InputDataConfig"]}
    assert set(channels) == {"train", "validation", "inference_code"}
    assert channels["inference_code"]["DataSource"]["S3DataSource"]["S3Uri"] == uri


def test_the_code_uri_follows_the_content(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def output_fn(p, a):\n    return 'a'\n")
    env = with_code("code")
    first = inference_code_uri(env, root=tmp_path)
    (tmp_path / "code" / "inference.py").write_text("def output_fn(p, a):\n    return 'b'\n")
    assert inference_code_uri(env, root=tmp_path) != first


def test_a_folder_without_inference_py_is_named_at_definition_time() -> None:
    with pytest.raises(DefinitionError, match=r"environment 'dev', key 'inference.code_dir': .*/tests has no "
                                              r"inference.py"):
        build_pipeline_definition(with_code("tests"), image_tag="test")


def test_an_absolute_or_escaping_code_dir_is_refused() -> None:
    for value in ("/etc", "../elsewhere"):
        with pytest.raises(ValueError, match="must be a folder inside the repository"):
            InferenceCodeConfig(code_dir=value)


def test_pipeline_run_uploads_the_code_once(aws: AwsTarget) -> None:
    env = with_code(EXAMPLE)
    s3 = client("s3", aws)
    bucket = Names.of(env).bucket("artifacts")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    uri = runs.ensure_inference_code(s3, env)
    assert uri is not None
    assert uri == inference_code_uri(env)
    prefix = uri.removeprefix(f"s3://{bucket}/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [item["Key"] for item in listed["Contents"]] == [f"{prefix}inference.py"]
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}inference.py")["Body"].read()
    assert body == (Path(__file__).resolve().parents[2] / EXAMPLE / "inference.py").read_bytes()
    # Already there (content-addressed): a second run writes nothing.
    s3.put_object(Bucket=bucket, Key=f"{prefix}inference.py", Body=b"marker")
    assert runs.ensure_inference_code(s3, env) == uri
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}inference.py")["Body"].read() == b"marker"
