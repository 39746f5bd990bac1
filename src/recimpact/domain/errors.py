"""Errors named exactly as AWS names them.

botocore turns the ``__type`` of an error body into ``client.exceptions.<Name>``, so the class name *is* the wire
contract. The HTTP status is decided by the wire layer from the service model (rest-json services declare 404/409);
``status`` here is the fallback for errors no model declares.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Root of every error a client may see. ``code`` is the AWS error name."""

    code = "InternalFailure"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputException(ServiceError):
    code = "InvalidInputException"


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"


class ResourceInUseException(ServiceError):
    code = "ResourceInUseException"


class LimitExceededException(ServiceError):
    code = "LimitExceededException"


class InvalidNextTokenException(ServiceError):
    code = "InvalidNextTokenException"


class TooManyTagsException(ServiceError):
    code = "TooManyTagsException"


class TooManyTagKeysException(ServiceError):
    code = "TooManyTagKeysException"


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"


class SerializationException(ServiceError):
    code = "SerializationException"


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500


# Authentication and transport errors common to every AWS API (Personalize's "Common Errors" page gives the
# names and statuses); botocore raises them as ClientError with these codes.


class MissingAuthenticationToken(ServiceError):
    code = "MissingAuthenticationToken"
    status = 403


class InvalidClientTokenId(ServiceError):
    code = "InvalidClientTokenId"
    status = 403


class IncompleteSignature(ServiceError):
    code = "IncompleteSignature"


class InvalidSignatureException(ServiceError):
    code = "InvalidSignatureException"


class RequestExpired(ServiceError):
    code = "RequestExpired"


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"


class RequestEntityTooLargeException(ServiceError):
    code = "RequestEntityTooLargeException"
    status = 413


class RequestTimeoutException(ServiceError):
    code = "RequestTimeoutException"
    status = 408
