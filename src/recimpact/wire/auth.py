"""Who is calling: the account and the region of a request.

The region comes from the SigV4 credential scope (``Credential=<key>/<date>/<region>/personalize/aws4_request``),
as AWS derives it. Until credentials are configured, every caller acts in the server's default account.
"""

from __future__ import annotations

from collections.abc import Mapping

import regex

from recimpact.domain.arns import Scope

_SCOPE = regex.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/[a-z0-9-]+/aws4_request")


def caller_scope(headers: Mapping[str, str], default_account: str, default_region: str) -> Scope:
    match = _SCOPE.search(headers.get("authorization", ""))
    return Scope(account=default_account, region=match.group(1) if match else default_region)
