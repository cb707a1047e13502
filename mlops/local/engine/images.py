"""Container images as local commands: the repository in an image URI picks the project code that image holds."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from config.images import IMAGES as PROJECT_IMAGES
from config.naming import Names
from mlops.local.engine.sagemaker_images import check_runnable, sagemaker_image
from mlops.local.errors import UnsupportedDefinitionError

# The prebuilt SageMaker Model Monitor analyzer; containers.monitor implements its contract.
ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"
PYTHON_COMMANDS = ("python", "python3")
MONITOR_FAMILY = "model-monitor"  # the SDK's image_uris name of the analyzer


@dataclass(frozen=True)
class Image:
    """What `docker run` would start: the image's ENTRYPOINT and default CMD (see its Dockerfile)."""

    kind: str
    entrypoint: tuple[str, ...]
    default_arguments: tuple[str, ...]

    def command(self, entrypoint: Sequence[str] | None = None, arguments: Sequence[str] | None = None) -> list[str]:
        """Docker semantics: an entrypoint override drops the default CMD; arguments replace it."""
        if entrypoint:
            program = list(entrypoint)
            default: tuple[str, ...] = ()
        else:
            program = list(self.entrypoint)
            default = self.default_arguments
        check_entrypoint(program, f"image {self.kind!r}")
        # The container's python is this virtualenv's interpreter, which has the project installed.
        return [sys.executable, *program[1:], *(arguments if arguments is not None else default)]


def check_entrypoint(entrypoint: Any, where: str) -> None:
    """Refuse an entrypoint whose program is not a Python interpreter (a Get is resolved later):
    the container's python is this virtualenv's; any other program is not in it."""
    if isinstance(entrypoint, (list, tuple)) and entrypoint and isinstance(entrypoint[0], str) \
            and entrypoint[0] not in PYTHON_COMMANDS:
        raise UnsupportedDefinitionError(
            f"{where}: entrypoint {entrypoint[0]!r} is not a Python interpreter "
            f"({', '.join(PYTHON_COMMANDS)}); local mode runs the project's Python code only"
        )


IMAGES = {
    "training": Image("training", ("python", "-m", "containers.training"), ("train",)),
    "inference": Image("inference", ("python", "-m", "containers.inference"), ("serve",)),
    "monitor": Image("monitor", ("python", "-m", "containers.monitor"), ()),
}
# SageMaker's framework images (scikit-learn, ...) in script mode: `train` is the training toolkit's,
# processing jobs name their own entry point (engine/framework.py).
FRAMEWORK = Image("framework", ("python", "-m", "mlops.local.engine.training_toolkit"), ("train",))


def repository_of(uri: str) -> str:
    """`acct.dkr.ecr.region.amazonaws.com/name:tag` (or `@sha256:...`) -> `name`."""
    path = uri.split("/", 1)[1] if "/" in uri else uri
    path = path.split("@", 1)[0]
    if ":" in path:
        path = path.rsplit(":", 1)[0]
    return path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ImageCatalog:
    """The images local mode runs, by exact ECR repository name: the project's own repositories of the
    environment in use (`config/naming.py`) and the Model Monitor analyzer. Anything else is refused by
    name: a `pytorch-training` image is somebody else's, whatever its name ends with."""

    repositories: Mapping[str, Image]

    @classmethod
    def of(cls, names: Names) -> ImageCatalog:
        repositories = {names.ecr_repository(kind): IMAGES[kind] for kind in PROJECT_IMAGES}
        return cls({**repositories, ANALYZER_REPOSITORY: IMAGES["monitor"]})

    def image_for(self, uri: str) -> Image:
        """The image an image URI names; UnsupportedDefinitionError naming any other image."""
        owned = sagemaker_image(str(uri))  # AWS's account and repository: never one of ours, whatever its name
        if owned is not None and owned.family == MONITOR_FAMILY:
            return IMAGES["monitor"]
        if owned is not None:
            check_runnable(owned, f"image {uri}")
            return FRAMEWORK
        image = self.repositories.get(repository_of(str(uri)))
        if image is None:
            raise UnsupportedDefinitionError(
                f"image {uri!r} is not one of the project's images ({', '.join(sorted(self.repositories))}) "
                "or a SageMaker framework image whose library is installed; local mode cannot run it"
            )
        return image
