"""`mlops local run` end to end, as real processes in a temporary work folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from config.naming import Names
from config.settings import load_environment
from mlops.local.faults import INTERRUPT_VARIABLE
from tests.local.conftest import shared_once

REPO_ROOT = Path(__file__).resolve().parents[2]
# Fewer trees: the loop is what is under test, not the model.
QUICK = ("--param", "NEstimators=20")

pytestmark = [pytest.mark.local, pytest.mark.slow]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any]


def mlops_local(work: Path, *arguments: str) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    runs = sorted((work / "runs").glob("*/summary.json")) if (work / "runs").is_dir() else []
    summary = json.loads(runs[-1].read_text()) if runs and arguments[0] == "run" else {}
    return Run(result.returncode, result.stdout, result.stderr, summary)


def step(run: Run, name: str) -> dict[str, Any]:
    return next(item for item in run.summary["steps"] if item["name"] == name)


@dataclass(frozen=True)
class LoopRuns:
    work: Path
    first: Run
    second: Run
    failed_gate: Run
    bad_inputs: Sequence[Run]
    state_before_bad_inputs: str
    state_after_bad_inputs: str
    approve: Run
    registry_after_approve: dict[str, Any]
    interrupted: Run
    resumed: Run


def _run_the_loop(folder: Path) -> dict[str, Any]:
    """Two runs on the default data, a run that fails its quality gate, then bad invocations."""
    work = folder / ".mlops"
    first = mlops_local(work, "run", *QUICK)
    assert first.code == 0, first.stdout + first.stderr
    second = mlops_local(work, "run", *QUICK)
    assert second.code == 0, second.stdout + second.stderr
    failed_gate = mlops_local(work, "run", *QUICK, "--param", "MetricThreshold=1.01")
    state = (work / "state" / "registry.json").read_text()
    small_csv = folder / "small.csv"
    small_csv.write_text("label,a\n1,2\n")
    bad_inputs = [
        mlops_local(work, "run", "--data", str(folder / "missing.csv"), "--target", "y"),
        mlops_local(work, "run", "--data", str(small_csv), "--target", "no_such_column"),
        mlops_local(work, "run", "--param", "NEstimators"),
        mlops_local(work, "run", "--param", "MetricThreshold=high"),
        mlops_local(work, "run", "--resume"),
    ]
    state_after_bad_inputs = (work / "state" / "registry.json").read_text()
    approve = mlops_local(work, "registry", "approve", "--env", "dev", "--version", "2")
    registry_after_approve = json.loads((work / "state" / "registry.json").read_text())
    # Another tree count, so that Train runs (is not a cache hit) and is interrupted.
    interrupted = interrupt_during(work, "Train", "--param", "NEstimators=21")
    resumed = mlops_local(work, "run", "--resume")
    return {"interrupted": asdict(interrupted), "resumed": asdict(resumed), "first": asdict(first),
            "second": asdict(second), "failed_gate": asdict(failed_gate),
            "bad_inputs": [asdict(run) for run in bad_inputs], "state": state,
            "state_after_bad_inputs": state_after_bad_inputs, "approve": asdict(approve),
            "registry_after_approve": registry_after_approve}


def interrupt_during(work: Path, step_name: str, *arguments: str) -> Run:
    """`mlops local run` with Ctrl-C pressed as soon as `step_name`'s job has started; how the run ended.

    The run sends itself SIGINT at that point (MLOPS_LOCAL_INTERRUPT_AT, mlops/local/faults.py): no
    polling, no window for a fast job to finish first.
    """
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200", INTERRUPT_VARIABLE: f"job:{step_name}"},
        # As from a terminal: a shell running the suite in the background ignores SIGINT, and a child
        # inheriting that would never see the Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    latest = (work / "latest-run").read_text().strip()
    summary = json.loads((work / "runs" / latest / "summary.json").read_text())
    return Run(result.returncode, result.stdout, result.stderr, summary)


@pytest.fixture(scope="module")
def loop_runs(tmp_path_factory: pytest.TempPathFactory) -> LoopRuns:
    folder, result = shared_once(tmp_path_factory, "local-loop", _run_the_loop)
    return LoopRuns(work=folder / ".mlops", interrupted=Run(**result["interrupted"]),
                    resumed=Run(**result["resumed"]), first=Run(**result["first"]), second=Run(**result["second"]),
                    failed_gate=Run(**result["failed_gate"]), bad_inputs=[Run(**run) for run in result["bad_inputs"]],
                    state_before_bad_inputs=result["state"],
                    state_after_bad_inputs=result["state_after_bad_inputs"], approve=Run(**result["approve"]),
                    registry_after_approve=result["registry_after_approve"])


def test_first_run_registers_and_auto_approves_version_1(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    assert summary["status"] == "Succeeded"
    assert summary["registered"]["version"] == 1
    assert summary["registered"]["status"] == "Approved"
    assert summary["approval"]["reason"].startswith("auto-approved")
    first = json.loads(loop_runs.state_before_bad_inputs)["packages"][0]
    assert (first["ModelPackageVersion"], first["ModelApprovalStatus"]) == (1, "Approved")


def test_the_served_model_answered_every_replayed_request(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    assert summary["served"]["version"] == 1
    assert summary["replay"]["failures"] == []
    assert summary["replay"]["test_rows"] > 0
    assert summary["replay"]["drifted_rows"] == summary["replay"]["test_rows"]
    names = Names.of(load_environment("dev"))
    capture = loop_runs.work / "s3" / names.bucket("capture") / "datacapture" / names.endpoint / "AllTraffic"
    lines = [line for path in capture.rglob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(lines) >= summary["replay"]["requests"]


def test_work_folder_holds_the_documented_files(loop_runs: LoopRuns) -> None:
    work = loop_runs.work
    run = work / "runs" / loop_runs.first.summary["execution_id"]
    names = Names.of(load_environment("dev"))
    expected = [
        work / "state" / "registry.json", work / "state" / "alarms.json", work / "state" / "topics.json",
        run / "run.json", run / "summary.json", run / "report.html", run / "definition.json", run / "alerts.json",
        run / "steps" / "Preprocess" / "step.log", run / "steps" / "Train" / "step.log", run / "serve" / "step.log",
        run / "monitor" / "step.log",
    ]
    for path in expected:
        assert path.is_file(), path
    artifacts = work / "s3" / names.bucket("artifacts") / names.pipeline / loop_runs.first.summary["execution_id"]
    assert (artifacts / "Preprocess" / "test" / "test.csv").is_file()
    assert list(artifacts.glob("Train/*/output/model.tar.gz"))
    assert (artifacts / "DataQualityBaseline" / "statistics.json").is_file()
    assert list((work / "cache" / "definitions").glob("*.json"))


def test_report_is_self_contained_and_shows_the_drifted_feature_in_alarm(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    report = Path(summary["files"]["report"]).read_text()
    drifted = summary["drifted_features"][0]["name"]
    assert drifted in report
    assert "ALARM" in report
    assert "<svg" in report
    for external in ("<script src", "<link", "src=\"http", "url(http"):
        assert external not in report


def test_a_drift_alert_was_delivered_for_a_drifted_feature(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    names = Names.of(load_environment("dev"))
    drifted = {item["name"] for item in summary["drifted_features"]}
    alerted = {alert["Message"]["AlarmName"] for alert in summary["alerts"]}
    assert alerted
    assert alerted <= {names.drift_alarm(feature) for feature in drifted}
    assert "alert delivered: ALARM" in loop_runs.first.stdout


def test_second_run_reuses_cached_steps_and_registers_version_2(loop_runs: LoopRuns) -> None:
    first, second = loop_runs.first.summary, loop_runs.second.summary
    assert step(loop_runs.second, "Preprocess")["cached_from"] == first["execution_id"]
    assert step(loop_runs.second, "Train")["cached_from"] == first["execution_id"]
    assert second["registered"]["version"] == 2
    # Same model, same metric: not better, so it waits for an approver and version 1 stays served.
    assert second["registered"]["status"] == "PendingManualApproval"
    assert second["served"]["version"] == 1
    assert "mlops local registry approve --env dev --version 2" in loop_runs.second.stdout


def test_failed_quality_gate_exits_non_zero_with_the_fail_message_and_registers_nothing(loop_runs: LoopRuns) -> None:
    run = loop_runs.failed_gate
    assert run.code != 0
    assert "Quality gate failed: auc" in run.stdout
    assert run.summary["failed_step"] == "Fail"
    assert step(run, "Register-RegisterModel")["status"] == "NotExecuted"
    registry = json.loads(loop_runs.state_before_bad_inputs)
    assert len(registry["packages"]) == 2


def test_bad_input_is_one_clear_line_and_loses_nothing(loop_runs: LoopRuns) -> None:
    expected = ["missing.csv: no such file", "'no_such_column' is not a column", "expected NAME=VALUE",
                "'MetricThreshold' is a Float", "stopped at its Fail step"]
    for run, words in zip(loop_runs.bad_inputs, expected, strict=True):
        assert run.code != 0
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1, run.stderr
        assert lines[0].startswith("error: ")
        assert words in lines[0]
    assert loop_runs.state_after_bad_inputs == loop_runs.state_before_bad_inputs


def test_local_registry_commands_approve_a_pending_version(loop_runs: LoopRuns) -> None:
    assert loop_runs.approve.code == 0, loop_runs.approve.stderr
    assert "version 2 of mlops-kit-dev-models: Approved" in loop_runs.approve.stdout
    statuses = [p["ModelApprovalStatus"] for p in loop_runs.registry_after_approve["packages"]]
    assert statuses == ["Approved", "Approved"]


def test_ctrl_c_stops_the_run_and_resume_continues_from_the_interrupted_step(loop_runs: LoopRuns) -> None:
    interrupted, resumed = loop_runs.interrupted, loop_runs.resumed
    assert interrupted.code == 130, interrupted.stdout + interrupted.stderr
    assert interrupted.summary["status"] == "Interrupted"
    assert "--resume" in interrupted.stdout
    assert step(interrupted, "Train")["status"] == "Failed", interrupted.stdout
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    assert resumed.summary["execution_id"] == interrupted.summary["execution_id"]
    assert step(resumed, "Preprocess")["reused"]
    # The resume rule for every step: what finished before is reused, what did not runs again.
    unfinished = []
    for before in interrupted.summary["steps"]:
        after = step(resumed, before["name"])
        if before["status"] == "Succeeded":
            assert after["reused"], before["name"]
        elif after["status"] == "NotExecuted":
            # A branch the resumed run's condition did not take (the gate passes: Fail stays idle).
            assert before["name"] == "Fail"
        else:
            unfinished.append(before["name"])
            assert not after["reused"], before["name"]
            assert after["status"] == "Succeeded", before["name"]
    assert step(resumed, "Fail")["status"] == "NotExecuted"
    if "Register-RegisterModel" in unfinished:
        assert resumed.summary["registered"]["version"] == 3


def test_monitoring_judges_drift_by_the_environments_drift_threshold(loop_runs: LoopRuns) -> None:
    env = load_environment("dev")
    reports = loop_runs.work / "s3" / Names.of(env).bucket("reports")
    schedule = json.loads(next(reports.rglob("baseline/constraints.json")).read_text())
    distribution = schedule["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == env.monitoring.drift_threshold != 0.1
    violations = [v for path in reports.rglob("constraint_violations.json")
                  for v in json.loads(path.read_text())["violations"]]
    drift = [v for v in violations if v["constraint_check_type"] == "baseline_drift_check"]
    assert drift, "the replayed data drifts"
    for violation in drift:
        distance, threshold = map(float, violation["description"].split("distance: ")[1].split(" exceeds threshold: "))
        assert threshold == env.monitoring.drift_threshold
        assert distance > threshold


def test_ground_truth_labels_every_replayed_test_request_in_the_upload_contract(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    names = Names.of(load_environment("dev"))
    ground_truth = Path(summary["files"]["ground truth"])
    root = loop_runs.work / "s3" / names.bucket("data") / "ground-truth" / names.endpoint
    # <prefix>/yyyy/mm/dd/hh/<file>.jsonl, as SageMaker reads uploads.
    assert len(ground_truth.relative_to(root).parts) == 5
    records = [json.loads(line) for line in ground_truth.read_text().splitlines()]
    for record in records:
        assert set(record) == {"groundTruthData", "eventMetadata", "eventVersion"}
        assert record["groundTruthData"]["encoding"] == "CSV"
        assert set(record["eventMetadata"]) == {"eventId"}
    labelled = {record["eventMetadata"]["eventId"]: record for record in records}
    capture = loop_runs.work / "s3" / names.bucket("capture") / "datacapture" / names.endpoint / "AllTraffic"
    captured = {}
    for path in capture.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            captured[event["eventMetadata"].get("inferenceId")] = event
    test_requests = {key: event for key, event in captured.items()
                     if key and key.startswith(f"{summary['execution_id']}-test-")}
    # dev captures 100 %: every replayed test request is captured, and each has its labels.
    assert set(test_requests) == set(labelled)
    assert len(labelled) == summary["model_quality"]["labelled_requests"]
    for key, event in test_requests.items():
        rows = event["captureData"]["endpointInput"]["data"].strip().splitlines()
        assert len(labelled[key]["groundTruthData"]["data"].splitlines()) == len(rows)


def test_live_model_quality_equals_the_evaluate_step_and_its_alarm_is_ok(loop_runs: LoopRuns) -> None:
    summary = loop_runs.first.summary
    quality = summary["model_quality"]
    evaluated = summary["evaluation"]["binary_classification_metrics"]
    # The same test rows through the served model: the Evaluate step's figures, up to float rounding.
    for name in ("auc", "accuracy", "precision", "recall", "f1"):
        assert quality["metrics"][name] == pytest.approx(evaluated[name]["value"], abs=1e-9), name
    assert quality["violations"] == []
    assert quality["metrics_published"] > 0
    assert quality["alarm"]["state"] == "OK"
    gate = summary["gate"]
    row = next(alarm for alarm in summary["alarms"] if alarm["name"] == quality["alarm"]["name"])
    assert (row["metric"], row["threshold"]) == (gate["metric"], gate["threshold"])
    assert row["latest"] == pytest.approx(evaluated[gate["metric"]]["value"], abs=1e-9)
    report = Path(summary["files"]["report"]).read_text()
    assert "Model quality (live, against ground truth)" in report
    assert "Data quality and drift" in report
