"""One runner per pipeline step type, as sagemaker/workflow has one class per step type."""
