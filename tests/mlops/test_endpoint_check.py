"""`mlops endpoint check` against moto (endpoint -> config -> model -> package version) and our real inference
server on loopback (the answer), plus the route's newest-Approved lookup.

moto has no UpdateEndpoint and no runtime that runs a model, so: a rolled-back update is an endpoint whose
config names the previous version while a newer one is Approved (what AWS shows after an automatic
rollback), and the invoke goes through boto3's sagemaker-runtime client to a loopback front door that
speaks the runtime path (`POST /endpoints/{name}/invocations`) and hands the body to our inference server,
which answers with a model trained on the bundled data set's training split. Only a real account verifies
the runtime's authentication, a real blue/green rollback and the endpoint's image pulling the model.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config.naming import Names
from config.settings import EnvironmentConfig, ProblemType
from mlops import endpoint_check, route
from mlops.aws import AwsTarget, client
from mlops.endpoint_check import EndpointCheckError, Sample
from pipelines.datasets import default_dataset
from pipelines.steps.preprocess import split
from tests.containers.conftest import ServerProcess, run_entry_point, start_server, write_training_job
from tests.mlops.test_registry import seed_versions

APPROVED, REJECTED, PENDING = "Approved", "Rejected", "PendingManualApproval"


def _deploy(target: AwsTarget, env: EnvironmentConfig, package_arn: str, suffix: str) -> None:
    """What the endpoint stack creates: a model from the package, a config with one variant, the endpoint."""
    sm = client("sagemaker", target)
    names = Names.of(env)
    model = f"{names.prefix}-model-{suffix}"
    sm.create_model(ModelName=model, ExecutionRoleArn=names.execution_role_arn,
                    Containers=[{"ModelPackageName": package_arn}])
    config = f"{names.prefix}-config-{suffix}"
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
    }])
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=config)


@pytest.fixture(scope="module")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Our inference server with a model trained (real entry point) on the default data set's train split."""
    base = tmp_path_factory.mktemp("endpoint-model")
    frame = default_dataset()
    write_training_job(base, split(frame, "target", ProblemType.BINARY.value)["train"], {"n_estimators": "20"})
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(base)})
    assert result.returncode == 0, result.stderr
    server = start_server(base / "model", base / "server.log")
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def runtime_url(served_model: ServerProcess) -> Iterator[str]:
    """A loopback front door speaking the SageMaker runtime path, forwarding to the server's /invocations."""

    class FrontDoor(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.split("/")
            if len(parts) != 4 or parts[1] != "endpoints" or parts[3] != "invocations":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers["Content-Length"]))
            connection = http.client.HTTPConnection("127.0.0.1", served_model.port, timeout=30)
            connection.request("POST", "/invocations", body, {
                "Content-Type": self.headers["Content-Type"], "Accept": self.headers.get("Accept", "text/csv"),
            })
            answer = connection.getresponse()
            payload = answer.read()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type") or "text/csv")
            self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FrontDoor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _runtime(url: str) -> Any:
    return client("sagemaker-runtime", AwsTarget(region="eu-west-1", endpoint_url=url))


def test_check_passes_when_the_newest_approved_version_is_served_and_answers(
    aws: AwsTarget, dev: EnvironmentConfig, runtime_url: str
) -> None:
    arns = seed_versions(aws, dev, [0.95, 0.96, 0.97], [APPROVED, REJECTED, APPROVED])
    _deploy(aws, dev, arns[2], "v3")
    result = endpoint_check.check_endpoint(client("sagemaker", aws), _runtime(runtime_url), dev)
    assert (result.endpoint, result.version, result.rows) == ("mlops-kit-dev-endpoint", 3, 5)


def test_an_update_that_rolled_back_fails_the_check(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    arns = seed_versions(aws, dev, [0.95, 0.97], [APPROVED, APPROVED])
    _deploy(aws, dev, arns[0], "v1")  # version 2 was approved and deployed, the endpoint went back to 1

    class NoInvoke:
        def invoke_endpoint(self, **_: Any) -> Any:
            raise AssertionError("a wrong version must fail before the endpoint is invoked")

    with pytest.raises(EndpointCheckError, match=r"^endpoint mlops-kit-dev-endpoint does not serve the intended "
                                                 r"version 2: AllTraffic serves version 1 \(an update that rolled "
                                                 r"back"):
        endpoint_check.check_endpoint(client("sagemaker", aws), NoInvoke(), dev)


def test_an_explicit_version_is_what_must_be_served(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    arns = seed_versions(aws, dev, [0.95, 0.97], [APPROVED, APPROVED])
    _deploy(aws, dev, arns[0], "v1")
    variants = endpoint_check.served_variants(client("sagemaker", aws), Names.of(dev).endpoint)
    endpoint_check.check_version(variants, Names.of(dev).endpoint, 1)
    with pytest.raises(EndpointCheckError, match="intended version 2"):
        endpoint_check.check_version(variants, Names.of(dev).endpoint, 2)


def test_a_missing_endpoint_and_an_empty_registry_are_one_line_errors(
    aws: AwsTarget, dev: EnvironmentConfig
) -> None:
    sm = client("sagemaker", aws)
    with pytest.raises(EndpointCheckError, match=r"^endpoint mlops-kit-dev-endpoint does not exist"):
        endpoint_check.served_variants(sm, Names.of(dev).endpoint)
    seed_versions(aws, dev, [0.9], [PENDING])
    with pytest.raises(EndpointCheckError, match="has no Approved version: nothing should be served"):
        endpoint_check.intended_version(sm, dev, None)


def test_cli_check_fails_on_a_rolled_back_endpoint(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.cli import main

    arns = seed_versions(aws, dev, [0.95, 0.97], [APPROVED, APPROVED])
    _deploy(aws, dev, arns[0], "v1")
    assert main(["endpoint", "check", "--env", "dev"]) == 1
    assert capsys.readouterr().err.startswith("error: endpoint mlops-kit-dev-endpoint does not serve the intended "
                                              "version 2: AllTraffic serves version 1")


def test_the_sample_is_the_test_split_without_its_target(dev: EnvironmentConfig) -> None:
    sample = endpoint_check.default_sample(dev, rows=3)
    lines = sample.body.decode().splitlines()
    assert len(lines) == sample.rows == 3
    assert all(len(line.split(",")) == 30 for line in lines)  # the 30 features, no target, no header
    assert sample.labels == {"0", "1"}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("1,0.2,0.8\n", r"answered 1 line\(s\) for 2 row\(s\)"),
        ("1,0.2,0.8\n7,0.5,0.5\n", r"line 2: label '7' is not one of \['0', '1'\]"),
        ("1,0.2,0.8\n0,0.5,0.6\n", "line 2: probabilities sum to"),
        ("1\n0\n", "line 1: expected label,probability"),
    ],
)
def test_answers_of_the_wrong_shape_fail(answer: str, message: str) -> None:
    sample = Sample(body=b"", rows=2, labels=frozenset({"0", "1"}))
    with pytest.raises(EndpointCheckError, match=message):
        endpoint_check.check_answer(answer, sample, ProblemType.BINARY, "e")
    endpoint_check.check_answer("1,0.2,0.8\n0,0.9,0.1\n", sample, ProblemType.BINARY, "e")


def test_route_reads_the_newest_approved_version_skipping_pending_and_rejected(
    aws: AwsTarget, dev: EnvironmentConfig
) -> None:
    sm = client("sagemaker", aws)
    seed_versions(aws, dev, [0.9, 0.91, 0.92, 0.93], [APPROVED, APPROVED, REJECTED, PENDING])
    assert route.newest_approved_version(sm, dev) == 2
    assert route.context_arguments({"dev": 2, "staging": None, "prod": 5}) == (
        "-c model_version.dev=2 -c model_version.prod=5"
    )


def test_route_finds_nothing_approved_in_a_group_of_pending_and_rejected_versions(
    aws: AwsTarget, dev: EnvironmentConfig
) -> None:
    seed_versions(aws, dev, [0.9, 0.91], [PENDING, REJECTED])
    assert route.newest_approved_version(client("sagemaker", aws), dev) is None


def test_route_aws_config_assumes_each_stages_ml_engineer_role() -> None:
    from config.settings import load_project

    text = route.aws_config(load_project())
    assert "[profile staging]\nrole_arn = arn:aws:iam::222222222222:role/mlops-kit-staging-ml-engineer\n" in text
    assert text.count("credential_source = EcsContainer") == 3


def test_payload_file_path_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops.cli import main

    assert main(["endpoint", "check", "--env", "dev", "--payload", str(tmp_path / "nope.csv")]) == 1
    assert "--payload" in capsys.readouterr().err
