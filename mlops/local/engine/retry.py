"""Retry policies as SageMaker applies them, with the backoff scaled down for a laptop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Which retry-policy exception types a local failure stands for. Like SageMaker, a script that
# exits non-zero (an algorithm error) or bad input is not retried; a job whose process died from
# a signal or could not start is the local face of an internal error.
RETRY_TYPES: dict[str, frozenset[str]] = {
    "internal": frozenset({"SageMaker.JOB_INTERNAL_ERROR", "Step.SERVICE_FAULT"}),
}
# Retry intervals are written for the cloud (tens of seconds); locally they are scaled down.
LOCAL_BACKOFF_SCALE = 0.01
DEFAULT_MAX_ATTEMPTS = 5


class RetryState:
    """The retries one step has used, per policy of its RetryPolicies."""

    def __init__(self, policies: Sequence[Mapping[str, Any]], backoff_scale: float) -> None:
        self.policies = list(policies)
        self.retries = [0] * len(self.policies)
        self.backoff_scale = backoff_scale

    @property
    def used(self) -> int:
        return sum(self.retries)

    def delay(self, failure_kind: str, elapsed_seconds: float) -> float | None:
        """Seconds to wait before the next attempt, or None when no policy retries this failure."""
        index = _matching_policy(self.policies, failure_kind)
        if index is None:
            return None
        policy = self.policies[index]
        limit = int(policy.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))
        expire = policy.get("ExpireAfterMin")
        expired = expire is not None and elapsed_seconds > float(expire) * 60
        if self.retries[index] >= limit or expired:
            return None
        delay = (float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0))
                 ** self.retries[index] * self.backoff_scale)
        self.retries[index] += 1
        return delay


def _matching_policy(policies: Sequence[Mapping[str, Any]], kind: str) -> int | None:
    types = RETRY_TYPES.get(kind, frozenset())
    for index, policy in enumerate(policies):
        if types & set(policy.get("ExceptionType", [])):
            return index
    return None
