"""`python -m containers.training train`: the command SageMaker runs as `docker run IMAGE train`."""

from __future__ import annotations

import sys

from containers.training.train import main


def run(argv: list[str]) -> int:
    if argv[:1] != ["train"]:
        print(f"usage: python -m containers.training train (got {' '.join(argv) or 'no argument'})",
              file=sys.stderr)
        return 2
    return main()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
