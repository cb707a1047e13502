"""Bad input to local mode is one clear line naming the file and what is wrong; nothing is lost."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from config.settings import load_environment
from mlops.local.aws.moto_server import local_aws
from mlops.local.aws.provision import provision
from mlops.local.aws.state import save_state
from mlops.local.engine.definitions import start_definition_build
from mlops.local.errors import LocalModeError
from mlops.local.loop.serving import unpack_model
from mlops.local.workdir import WorkDir
from tests.local.conftest import ACCOUNT, REGION

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC = {"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]}


def mlops(*arguments: str, file_size_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit_file_size() -> None:  # in the child: a disk that fills after `file_size_limit` bytes per file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit or 0, file_size_limit or 0))

    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", *arguments], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=300, check=False, env={**os.environ, "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=limit_file_size if file_size_limit else None,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def state_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work folder whose state holds two pending versions of the dev group (no run needed)."""
    work = WorkDir(tmp_path_factory.mktemp("state") / "work").ensure()
    with local_aws(REGION, ACCOUNT) as aws:
        group = provision(aws, load_environment("dev")).group
        sm = aws.client("sagemaker")
        for _ in range(2):
            sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC,
                                    ModelApprovalStatus="PendingManualApproval")
        save_state(aws, work.state_root)
    return work.root


def test_a_work_dir_on_a_file_or_an_unwritable_path_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for work_dir, words in ((a_file, "not a folder"), (a_file / "below", "not a folder"),
                            # root ignores file modes; sysfs refuses new folders even to root.
                            (Path("/sys/mlops-work"), "Operation not permitted")):
        line = one_error_line(mlops("local", "run", "--work-dir", str(work_dir)))
        assert line.startswith(f"error: --work-dir {work_dir}: {words}"), line


@pytest.mark.parametrize(("file", "content", "words"), [
    ("registry.json", "[]", "not a version 1 local state file"),
    ("registry.json", '{"version": 1, "packages": {}}', "'packages' is dict, expected a list"),
    ("registry.json", '{"version": 1, "packages": [{"ModelPackageArn": "a", "ModelPackageGroupName": "g", '
                      '"ModelApprovalStatus": "Approved"}]}', "packages[0] has no 'ModelPackageVersion'"),
    ("registry.json", '{"version": 1, "packages": [{"ModelPackageArn": "a", "ModelPackageGroupName": "g", '
                      '"ModelPackageVersion": "1", "ModelApprovalStatus": "Approved"}]}',
     "packages[0]: 'ModelPackageVersion' is str, expected int"),
    ("registry.json", '{"version": 1, "packages": [{"ModelPackageArn": "a", "ModelPackageGroupName": "g", '
                      '"ModelPackageVersion": 1, "ModelApprovalStatus": "Maybe"}]}',
     "packages[0]: ModelApprovalStatus 'Maybe' is not one of"),
    ("registry.json", '{"version": 1, "packa', "local state file is unreadable"),
    ("alarms.json", '{"version": 1, "alarms": [{"Name": "x"}]}', "alarms[0] has no 'AlarmName'"),
    ("topics.json", '{"version": 1, "topics": [{"Name": "t", "Subscriptions": {}}]}',
     "topics[0]: 'Subscriptions' is dict, expected list"),
])
def test_structurally_wrong_state_files_are_named_with_what_is_wrong(
    state_folder: Path, tmp_path: Path, file: str, content: str, words: str
) -> None:
    work = tmp_path / "work"
    (work / "state").mkdir(parents=True)
    for name in ("registry.json", "alarms.json", "topics.json"):
        (work / "state" / name).write_bytes((state_folder / "state" / name).read_bytes())
    (work / "state" / file).write_text(content)
    line = one_error_line(mlops("local", "registry", "list", "--work-dir", str(work)))
    assert line.startswith(f"error: {work / 'state' / file}: "), line
    assert words in line
    assert (work / "state" / file).read_text() == content


def test_a_full_disk_during_a_state_commit_is_one_line_and_changes_nothing(state_folder: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "state").mkdir(parents=True)
    before = {}
    for name in ("registry.json", "alarms.json", "topics.json"):
        before[name] = (state_folder / "state" / name).read_bytes()
        (work / "state" / name).write_bytes(before[name])
    result = mlops("local", "registry", "approve", "--version", "2", "--work-dir", str(work), file_size_limit=2000)
    line = one_error_line(result)
    assert line == f"error: cannot write {work / 'state' / 'commit.json'}: File too large; nothing was changed"
    assert sorted(path.name for path in (work / "state").iterdir()) == sorted(before)  # no .partial, no journal
    for name, content in before.items():
        assert (work / "state" / name).read_bytes() == content
    approved = mlops("local", "registry", "approve", "--version", "2", "--work-dir", str(work))
    assert approved.returncode == 0, approved.stderr
    assert "version 2 of mlops-kit-dev-models: Approved" in approved.stdout


def test_the_local_registry_list_is_the_registry_list_read_from_the_work_folder(state_folder: Path) -> None:
    result = mlops("local", "registry", "list", "--work-dir", str(state_folder))
    assert result.returncode == 0, result.stderr
    assert f"local state in {state_folder}" in result.stdout
    assert "PendingManualApproval" in result.stdout
    assert "no model-quality metrics registered" in result.stdout
    assert "other metrics" in result.stdout


def test_a_local_registry_command_on_a_locked_work_folder_is_one_line(state_folder: Path) -> None:
    with WorkDir(state_folder).locked():
        line = one_error_line(mlops("local", "registry", "list", "--work-dir", str(state_folder)))
    assert line == (f"error: work folder {state_folder} is in use by process {os.getpid()}; "
                    "wait for it or use --work-dir")


def _failed_run(work: Path, definition: str | None) -> Path:
    """A run folder as a run killed during Train leaves it (the record says Failed at Train)."""
    run = work / "runs" / "20260101000000abcd"
    run.mkdir(parents=True)
    (work / "latest-run").write_text(run.name + "\n")
    (run / "run.json").write_text(json.dumps({
        "execution_id": run.name, "pipeline_name": "mlops-kit-dev-training", "status": "Failed",
        "started": "2026-01-01T00:00:00+00:00", "parameters": {}, "failed_step": "Train",
        "steps": {"Train": {"name": "Train", "type": "Training", "status": "Failed"}},
    }))
    if definition is not None:
        (run / "definition.json").write_text(definition)
    return run


@pytest.mark.parametrize(("definition", "words"), [
    (None, "definition.json is missing; the run cannot be resumed"),
    ('{"Version": "2020-12-01", "Steps": [{"Na', "definition.json is unreadable"),
    ('{"Version": "2020-12-01"}', "definition.json is not a pipeline definition (no Steps list)"),
])
def test_resume_without_a_readable_definition_is_one_line(tmp_path: Path, definition: str | None, words: str) -> None:
    work = tmp_path / "work"
    run = _failed_run(work, definition)
    line = one_error_line(mlops("local", "run", "--resume", "--work-dir", str(work)))
    assert line.startswith(f"error: --resume: {run / 'definition.json'}"), line
    assert words in line
    assert not list((work / "state").glob("*.partial"))


def test_a_truncated_definition_cache_entry_is_a_miss_and_is_rebuilt(tmp_path: Path) -> None:
    env = load_environment("dev")
    work = WorkDir(tmp_path / "work").ensure()
    first = start_definition_build(env, work)
    definition = first.result()
    assert first.path.is_file()
    text = first.path.read_text()
    first.path.write_text(text[: len(text) // 2])  # a crash or a full disk cut it short
    again = start_definition_build(env, work)
    assert not again.cached
    assert again.result() == definition
    assert json.loads(again.path.read_text()) == definition
    cached = start_definition_build(env, work)
    assert cached.cached
    assert cached.result() == definition


def test_a_truncated_model_archive_is_one_clear_error(tmp_path: Path) -> None:
    work = WorkDir(tmp_path / "work")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        payload = os.urandom(200_000)
        info = tarfile.TarInfo("model.joblib")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    archive = work.s3_path("s3://artifacts-bucket/model/model.tar.gz")
    archive.parent.mkdir(parents=True)
    archive.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(LocalModeError, match=rf"^{archive}: cannot unpack the model \("):
        unpack_model(work, "s3://artifacts-bucket/model/model.tar.gz", tmp_path / "model")
