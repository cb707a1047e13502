"""The images SageMaker runs: training, inference and monitor code, plus their shared contracts."""

import os

# Set on the package's import, before any of its modules loads scikit-learn (and OpenMP with it): idle
# OpenMP threads sleep instead of spinning. HistGradientBoosting opens thousands of short parallel
# regions; with spinning threads on a busy host (other jobs, a test suite) one fit of 20,000 rows
# took 50 s instead of 3 s (measured on 2 loaded cores). The training image's Dockerfile sets it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
