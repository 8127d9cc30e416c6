"""Expected errors as GraphQL types, and the two ways errors reach a client.

- The core's DomainError subclasses become union members of mutation results
  (`AuthResult = AuthPayload | InvalidInput | ...`): resolvers just let the domain
  error propagate and Strawberry's exception handlers (HANDLERS) turn it into the
  error type of the same name, wherever the field's union holds that type.
- Bad requests that are not part of a result type (a malformed cursor, `first`
  out of range) raise `bad_request(...)`, and fields that need a login
  `unauthenticated(...)` (code UNAUTHENTICATED, saying why a token failed),
  a GraphQLError, which error masking leaves visible; so are domain errors
  raised where no union holds them, with the code of their kind (DOMAIN_CODES:
  InvalidInput is BAD_REQUEST). Anything else is masked.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types.field import StrawberryField

from murmur import domain


# each error type has the name of the domain error it stands for
@strawberry.interface
class Error:
    message: str


@strawberry.federation.type(shareable=True)
class NotAuthenticated(Error):
    pass


@strawberry.federation.type(shareable=True)
class InvalidToken(Error):
    """The token sent is expired or not Murmur's: log in again."""

    expired: bool


@strawberry.federation.type(shareable=True)
class ServiceUnavailable(Error):
    """A store Murmur needs cannot be reached: nothing was changed, the same request can be retried."""

    retryable: bool


@strawberry.federation.type(shareable=True)
class TooManyAttempts(Error):
    """Too many logins or registrations from this address, or failed logins to this account:
    try again after retryAfterSeconds (HTTP answers also carry Retry-After)."""

    retry_after_seconds: int


@strawberry.federation.type(shareable=True)
class InvalidInput(Error):
    field: str


@strawberry.federation.type(shareable=True)
class UsernameTaken(Error):
    pass


@strawberry.federation.type(shareable=True)
class InvalidCredentials(Error):
    pass


@strawberry.federation.type(shareable=True)
class NotFound(Error):
    pass


@strawberry.federation.type(shareable=True)
class CannotFollowSelf(Error):
    pass


@strawberry.federation.type(shareable=True)
class NotPostAuthor(Error):
    pass


class DomainErrorHandler:
    """Turns one DomainError subclass into its GraphQL error type (a Strawberry ExceptionHandler)."""

    def __init__(self, exception_type: type[domain.DomainError], error_type: type[Error]) -> None:
        self.exception_type = exception_type
        self.error_type = error_type

    def handle(self, exception: domain.DomainError, *, field: StrawberryField, info: object) -> Error:
        if isinstance(exception, domain.InvalidInput):
            return InvalidInput(message=exception.message, field=exception.field)
        if isinstance(exception, domain.InvalidToken):
            return InvalidToken(message=exception.message, expired=exception.expired)
        if isinstance(exception, domain.TooManyAttempts):
            return TooManyAttempts(
                message=exception.message, retry_after_seconds=exception.retry_after_seconds
            )
        return self.error_type(message=exception.message)


UNAVAILABLE_MESSAGE = "A store Murmur needs is unavailable; try again shortly."


class StoreOutageHandler:
    """A mutation whose store cannot be reached answers ServiceUnavailable in its result union."""

    exception_type = domain.RetryableStoreError
    error_type = ServiceUnavailable

    def handle(
        self, exception: domain.RetryableStoreError, *, field: StrawberryField, info: object
    ) -> ServiceUnavailable:
        return ServiceUnavailable(message=UNAVAILABLE_MESSAGE, retryable=True)


HANDLERS: tuple[DomainErrorHandler | StoreOutageHandler, ...] = (
    StoreOutageHandler(),
    *(
        DomainErrorHandler(exception_type, error_type)
        for exception_type, error_type in (
            (domain.InvalidToken, InvalidToken),  # before its parent, NotAuthenticated
            (domain.NotAuthenticated, NotAuthenticated),
            (domain.InvalidInput, InvalidInput),
            (domain.UsernameTaken, UsernameTaken),
            (domain.InvalidCredentials, InvalidCredentials),
            (domain.NotFound, NotFound),
            (domain.CannotFollowSelf, CannotFollowSelf),
            (domain.NotPostAuthor, NotPostAuthor),
            (domain.TooManyAttempts, TooManyAttempts),
        )
    ),
)


def bad_request(message: str) -> GraphQLError:
    """An error the client caused and should see (never masked)."""
    return GraphQLError(message, extensions={"code": "BAD_REQUEST"})


def unauthenticated(message: str) -> GraphQLError:
    """A field that needs a login was asked for without a usable token: log in (again)."""
    return GraphQLError(message, extensions={"code": "UNAUTHENTICATED"})


class MaskUnexpected(MaskErrors):
    """Strawberry's masking, with one kind of failure told apart: a store that cannot be
    reached (RetryableStoreError: down, timing out, throttling) answers code UNAVAILABLE,
    retryable, instead of "Unexpected error." Its details (addresses, driver text) stay out."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if isinstance(error.original_error, domain.RetryableStoreError):
            return GraphQLError(
                message=UNAVAILABLE_MESSAGE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "UNAVAILABLE", "retryable": True},
            )
        return super().anonymise_error(error)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        # Strawberry's one pass over an answer's errors (masked or kept): kept domain errors
        # gain the code a client branches on, as bad_request's and unauthenticated's carry
        return [with_domain_code(error) for error in super()._process_errors(errors)]


# the code of a domain error that surfaces as a top-level error (no result union holds it);
# the first match wins
DOMAIN_CODES: tuple[tuple[type[domain.DomainError], str], ...] = (
    (domain.NotAuthenticated, "UNAUTHENTICATED"),  # InvalidToken too: log in (again)
    (domain.InvalidInput, "BAD_REQUEST"),  # say, a forged cursor the store refuses
)


def with_domain_code(error: GraphQLError) -> GraphQLError:
    """`error` with extensions.code when it stands for a domain error that has one and it has
    no code yet; the domain error stays its original_error (so it is not logged as unexpected)."""
    original = error.original_error
    if not isinstance(original, domain.DomainError) or (error.extensions or {}).get("code"):
        return error
    code = next((code for kind, code in DOMAIN_CODES if isinstance(original, kind)), None)
    if code is None:
        return error
    return GraphQLError(
        message=error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions={**(error.extensions or {}), "code": code},
    )


def should_mask(error: GraphQLError) -> bool:
    """Mask errors caused by an unexpected exception. Keep GraphQL errors raised on purpose
    (bad_request), validation errors (no original exception), and domain errors: the core
    raises those for the client to see (say, a store refusing a forged cursor)."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, domain.DomainError))
