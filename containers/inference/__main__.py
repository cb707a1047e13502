"""`python -m containers.inference serve`: the command SageMaker runs as `docker run IMAGE serve`."""

from __future__ import annotations

import sys

from containers.inference.settings import ServingSettings, SettingsError


def run(argv: list[str]) -> int:
    if argv[:1] != ["serve"]:
        print(f"usage: python -m containers.inference serve (got {' '.join(argv) or 'no argument'})",
              file=sys.stderr)
        return 2
    try:
        settings = ServingSettings.from_env()
    except SettingsError as error:
        print(f"inference server not started: {error}", file=sys.stderr)
        return 1
    from containers.inference.server import serve

    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
