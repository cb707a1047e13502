"""The pipeline engine: checks a definition, then runs it step by step as SageMaker Pipelines would."""
