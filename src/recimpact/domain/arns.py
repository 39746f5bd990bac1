"""ARNs as Amazon Personalize writes them: ``arn:aws:personalize:<region>:<account>:<type>/<id>``.

Name-based ids follow the AWS documentation's examples (``dataset-group/<name>``, ``dataset/<group>/<TYPE>``,
``schema/<name>``, ``metric-attribution/<name>``); event trackers get the 8-hex id real accounts show.
"""

from __future__ import annotations

from dataclasses import dataclass

from recimpact.domain.errors import InvalidInputException

PARTITION = "aws"
SERVICE = "personalize"
# The region where none is given: a request without a SigV4 credential scope, the CLI without an ARN, an S3 client.
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Scope:
    """Who owns a resource: the caller's account and the region of its request's credential scope."""

    account: str
    region: str

    def arn(self, resource_type: str, resource_id: str) -> str:
        return f"arn:{PARTITION}:{SERVICE}:{self.region}:{self.account}:{resource_type}/{resource_id}"


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource_type: str
    resource_id: str

    @property
    def scope(self) -> Scope:
        return Scope(account=self.account, region=self.region)


def parse_arn(text: str) -> Arn:
    """Split an ARN; the wire layer has already checked the model's pattern, this checks the structure."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or "/" not in parts[5]:
        raise InvalidInputException(f"Invalid ARN: {text}")
    resource_type, resource_id = parts[5].split("/", 1)
    return Arn(parts[1], parts[2], parts[3], parts[4], resource_type, resource_id)


def recipe_arn(recipe_name: str) -> str:
    """Recipes are global: no region, no account."""
    return f"arn:{PARTITION}:{SERVICE}:::recipe/{recipe_name}"
