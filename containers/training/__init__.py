"""Training image: fits the model pipeline from SageMaker channels (`python -m containers.training train`)."""
