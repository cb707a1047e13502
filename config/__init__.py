"""Configuration: environments.yaml, its typed model and the naming module."""
