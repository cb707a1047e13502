"""The SageMaker Pipeline, defined once for the stack, the mlops command and local mode."""
