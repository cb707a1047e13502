"""The one exception type of the deployment specs."""

from __future__ import annotations

from config.settings import ConfigError


class DeploymentError(ConfigError):
    """A served version or deployment input that cannot be used; the message says which and how to fix it."""
