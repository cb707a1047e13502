"""The images SageMaker runs: training, inference and monitor code, plus their shared contracts."""
