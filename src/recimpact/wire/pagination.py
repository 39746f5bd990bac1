"""``nextToken``s bound to the listing that issued them.

A List handler's token is a cursor into its own ordering (``services.common.paginate``). Handed to another
operation, or to the same one with other parameters (another dataset group's datasets, another recipe provider),
a cursor would still decode and silently position that other listing. So the wire wraps every token it sends with
a digest of the operation and of the request's parameters other than ``nextToken`` and ``maxResults`` (which a
caller may change between pages, as AWS allows), and unwraps only a token whose digest matches the request that
presents it; anything else is InvalidNextTokenException, the error every Personalize List operation models for a
bad token. The digest binds, it does not authenticate: a forged token reaches a cursor of the caller's own listing
at most, which the handler checks like any other.

Operations are recognized from their model (``nextToken`` in both input and output), so a List added later is
bound without a line here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from recimpact.domain.errors import InvalidNextTokenException

TOKEN = "nextToken"
_UNBOUND = frozenset({TOKEN, "maxResults"})
_DIGEST_BYTES = 12


@functools.cache
def _is_listing(operation: Any) -> bool:
    shapes = (operation.input_shape, operation.output_shape)
    return all(shape is not None and TOKEN in shape.members for shape in shapes)


@dataclass(frozen=True)
class TokenBinding:
    """The digest one listing's tokens carry."""

    digest: bytes

    @classmethod
    def of(cls, service: str, operation: Any, params: dict[str, Any]) -> TokenBinding | None:
        """The binding of this request, or None for an operation that does not page."""
        if not _is_listing(operation):
            return None
        listing = {key: value for key, value in params.items() if key not in _UNBOUND}
        text = json.dumps([service, operation.name, listing], sort_keys=True, separators=(",", ":"))
        return cls(hashlib.sha256(text.encode()).digest()[:_DIGEST_BYTES])

    def unwrap(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the handler's own cursor in place of the client's token."""
        token = params.get(TOKEN)
        if not token:
            return params
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            cursor = raw[_DIGEST_BYTES:].decode("ascii")
        except (binascii.Error, ValueError):  # ValueError: UnicodeError, non-ASCII text
            raise _invalid() from None
        if raw[:_DIGEST_BYTES] != self.digest or not cursor:
            raise _invalid()
        return {**params, TOKEN: cursor}

    def wrap(self, result: dict[str, Any] | None) -> dict[str, Any] | None:
        """``result`` with its cursor, if any, wrapped as this listing's token."""
        cursor = (result or {}).get(TOKEN)
        if not cursor or result is None:
            return result
        token = base64.urlsafe_b64encode(self.digest + cursor.encode("ascii")).decode("ascii")
        return {**result, TOKEN: token}


def _invalid() -> InvalidNextTokenException:
    return InvalidNextTokenException("Invalid next token.")
