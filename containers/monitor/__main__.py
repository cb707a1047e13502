"""`python -m containers.monitor`: the monitoring image's entry point (configured by env vars)."""

import sys

from containers.monitor.job import run_job

if __name__ == "__main__":
    sys.exit(run_job())
