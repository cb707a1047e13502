"""Who may assume each persona role: the trust policies, built from the environment's `personas` config.

Principals are matched with `aws:PrincipalArn` under their account's root principal rather than named
as principals themselves: an IAM Identity Center role carries a random suffix (so only a pattern names
it), and a principal that does not exist yet would otherwise make the deployment fail.
"""

from __future__ import annotations

from config.naming import Names
from config.settings import APPROVER, PERSONAS, EnvironmentConfig, PersonaTrust
from governance.documents import PolicyDocument, Statement, document

ASSUME = "sts:AssumeRole"
# The approver's MFA must be recent, and its session short: approving is the act everything else trusts.
APPROVER_MFA_MAX_AGE_SECONDS = 3600
SESSION_HOURS = {APPROVER: 1}
DEFAULT_SESSION_HOURS = 4


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _trust(sid: str, names: Names, accounts: list[str], conditions: dict[str, dict[str, object]]) -> Statement:
    roots = [names.arn("iam", "root", account=account, global_service=True) for account in sorted(set(accounts))]
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": roots[0] if len(roots) == 1 else roots},
        "Action": ASSUME,
        "Condition": conditions,
    }


def sso_role_pattern(names: Names, permission_set: str) -> str:
    """The roles IAM Identity Center provisions for a permission set (its path may include a region)."""
    return names.arn(
        "iam", f"role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_{permission_set}_*", global_service=True
    )


def studio_personas(env: EnvironmentConfig) -> tuple[str, ...]:
    """The personas with a Studio user profile: all, where the experimentation stack is rendered (stage.py)."""
    return PERSONAS if env.experimentation_enabled and env.vpc is not None else ()


def studio_trust(names: Names) -> Statement:
    """Studio runs a user profile's apps with the profile's role: SageMaker of this account assumes it."""
    return {
        "Sid": "StudioUserProfile",
        "Effect": "Allow",
        "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": ASSUME,
        # Against the confused deputy: only SageMaker acting for this account's own domain.
        "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
    }


def persona_trust_policy(persona: str, names: Names, trust: PersonaTrust, *, studio: bool = False) -> PolicyDocument:
    """The assume-role policy of one persona role; MFA for IAM users when `require_mfa`; SageMaker when
    the persona has a Studio user profile (`studio`)."""
    statements: list[Statement] = []
    if trust.sso_permission_sets:
        # Identity Center enforces MFA at sign-in; its role sessions carry no aws:MultiFactorAuthPresent.
        patterns = [sso_role_pattern(names, name) for name in trust.sso_permission_sets]
        statements.append(_trust("IdentityCenterPermissionSets", names, [names.account],
                                 {"ArnLike": {"aws:PrincipalArn": patterns}}))
    if trust.roles:
        statements.append(_trust("IamRoles", names, [_account_of(arn) for arn in trust.roles],
                                 {"ArnEquals": {"aws:PrincipalArn": list(trust.roles)}}))
    if trust.users:
        conditions: dict[str, dict[str, object]] = {"ArnEquals": {"aws:PrincipalArn": list(trust.users)}}
        if trust.require_mfa:
            conditions["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
            if persona == APPROVER:
                conditions["NumericLessThan"] = {"aws:MultiFactorAuthAge": str(APPROVER_MFA_MAX_AGE_SECONDS)}
        statements.append(_trust("IamUsersWithMfa" if trust.require_mfa else "IamUsers", names,
                                 [_account_of(arn) for arn in trust.users], conditions))
    if studio:
        statements.append(studio_trust(names))
    return document(*statements)


def session_hours(persona: str) -> int:
    return SESSION_HOURS.get(persona, DEFAULT_SESSION_HOURS)
