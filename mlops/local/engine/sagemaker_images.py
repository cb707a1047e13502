"""SageMaker's own images (frameworks, built-in algorithms, services), known by exact account and repository.

The SDK's `image_uri_config` lists, per image family, the repository and the ECR account of each region;
`sagemaker_images.json` keeps that list (regenerate with `python -m mlops.local.engine.sagemaker_images --write`;
a test compares it with the installed SDK). An image URI is SageMaker's only when both its repository and
its account match a region's entry: a repository of ours that happens to be called `pytorch-training`
is not taken for AWS's, and AWS's is never taken for ours.

Local mode runs a framework image's script mode with this project's Python when the framework's library
is installed here; everything else of SageMaker's is refused by name with what to do instead.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mlops.local.errors import UnsupportedDefinitionError

DATA_FILE = Path(__file__).with_name("sagemaker_images.json")
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?:[:@](?P<tag>.+))?$"
)
# Image families whose containers run a user's script with a Python library (the SDK's framework
# estimators and processors); the library is what must be importable here.
FRAMEWORK_LIBRARIES = {
    "sklearn": "sklearn", "xgboost": "xgboost", "pytorch": "torch", "tensorflow": "tensorflow",
    "mxnet": "mxnet", "chainer": "chainer", "huggingface": "transformers", "autogluon": "autogluon",
}
# Families that are a service's own job, not a user's code (what runs them instead, in the refusal).
SERVICE_FAMILIES = {
    "model-monitor": "the Model Monitor analyzer (QualityCheck DATA_QUALITY steps run it)",
    "clarify": "SageMaker Clarify", "spark": "SageMaker's Spark processing", "data-wrangler": "Data Wrangler",
}


@dataclass(frozen=True)
class SageMakerImage:
    uri: str
    account: str
    region: str
    repository: str
    tag: str
    family: str  # the SDK's image_uri_config name: sklearn, xgboost, linear-learner, ...

    @property
    def library(self) -> str | None:
        return FRAMEWORK_LIBRARIES.get(self.family)

    @property
    def installed(self) -> bool:
        return self.library is not None and importlib.util.find_spec(self.library) is not None

    def describe(self) -> str:
        return f"SageMaker's {self.family} image {self.uri}"


@cache
def _registry() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def parse_ecr_uri(uri: str) -> dict[str, str] | None:
    match = _ECR_URI.match(uri.strip())
    return {key: value or "" for key, value in match.groupdict().items()} if match else None


def sagemaker_image(uri: str) -> SageMakerImage | None:
    """The SageMaker-owned image `uri` names (exact repository and account for its region), else None."""
    parts = parse_ecr_uri(uri)
    if parts is None:
        return None
    entry = _registry()["repositories"].get(parts["repository"])
    if entry is None or parts["account"] not in entry["registries"].get(parts["region"], []):
        return None
    return SageMakerImage(uri=uri, account=parts["account"], region=parts["region"],
                          repository=parts["repository"], tag=parts["tag"], family=str(entry["family"]))


def refusal(image: SageMakerImage, where: str) -> str | None:
    """Why local mode cannot run `image` (in `where`: "step X"), with what to do; None when it can."""
    if image.family in SERVICE_FAMILIES:
        return (f"{where}: {image.describe()} is {SERVICE_FAMILIES[image.family]}, which local mode does "
                "not emulate in this step type; run this pipeline in SageMaker")
    if image.library is None:
        return (f"{where}: {image.describe()} is a SageMaker built-in algorithm; local mode cannot run "
                "AWS's closed algorithm code. Run the pipeline in SageMaker, or train with a script "
                "(e.g. the SKLearn estimator or the project's training image)")
    if not image.installed:
        return (f"{where}: {image.describe()} runs {image.library} code, and {image.library} is not "
                f"installed in this Python ({sys.executable}); install it there to run the step locally, "
                "or run the pipeline in SageMaker")
    return None


def check_runnable(image: SageMakerImage, where: str) -> None:
    reason = refusal(image, where)
    if reason is not None:
        raise UnsupportedDefinitionError(reason)


# --------------------------------------------------------------------------- regenerating the data file


def registries_from_sdk(config_dir: Path) -> dict[str, Any]:
    """repository -> {family, registries: region -> sorted accounts}, from the SDK's image_uri_config."""
    repositories: dict[str, dict[str, Any]] = {}

    def walk(node: Any, family: str, registries: dict[str, str] | None) -> None:
        if isinstance(node, dict):
            registries = node.get("registries", registries)
            repository = node.get("repository")
            if isinstance(repository, str) and registries:
                entry = repositories.setdefault(repository, {"family": family, "registries": {}})
                for region, account in registries.items():
                    accounts = entry["registries"].setdefault(region, [])
                    if account not in accounts:
                        accounts.append(account)
                        accounts.sort()
            for key, value in node.items():
                if key != "registries":
                    walk(value, family, registries)
        elif isinstance(node, list):
            for value in node:
                walk(value, family, registries)

    for path in sorted(config_dir.glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")), path.stem, None)
    return {repository: repositories[repository] for repository in sorted(repositories)}


def sdk_config_dir() -> Path:
    spec = importlib.util.find_spec("sagemaker")  # located, not imported (the SDK imports for seconds)
    if spec is None or not spec.submodule_search_locations:
        raise UnsupportedDefinitionError("the SageMaker Python SDK is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "image_uri_config"


def main(argv: list[str]) -> int:
    from importlib import metadata

    source = f"sagemaker {metadata.version('sagemaker')}: sagemaker/image_uri_config/*.json"
    repositories = registries_from_sdk(sdk_config_dir())
    # One repository a line: a reviewable diff when the SDK adds a region or an image.
    lines = ",\n".join(f" {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"
                       for name, entry in repositories.items())
    text = f'{{"source": {json.dumps(source)},\n"repositories": {{\n{lines}\n}}}}\n'
    if argv[:1] == ["--write"]:
        DATA_FILE.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
