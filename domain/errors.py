"""The error codes of api-faq.md: one table of code, message and HTTP status."""

from __future__ import annotations

from typing import Any

# code: (message, HTTP status). Messages are api-faq.md's, word for word; statuses are
# CONTRACT section 2's.
ERRORS: dict[int, tuple[str, int]] = {
    0: ("Successful", 200),
    200: ("OK", 200),
    403: ("Unauthorized", 403),
    404: ("Not found", 404),
    100001: ("Internal error", 500),
    100002: ("Unknown error", 500),
    100003: ("Database error", 503),
    100004: ("Validation failed", 400),
    100005: ("Mail sending failed", 502),
    200001: ("POST method required", 405),
    200002: ("Invalid captcha", 400),
    201101: ("redirect_uri and client_id are required", 400),
    201102: ("Invalid response_type", 400),
    201103: ("Invalid clientid", 400),
    201104: ("redirect_uri and client_id are not matched", 400),
    201105: ("Authorization code required", 400),
    201201: ("Invalid access_token", 401),
    201202: ("access_token is required", 401),
    201203: ("access_token expires or does not exist", 401),
    201204: ("API requests out of rate limit", 429),
    201205: ("client_id client_secret grant_type redirect_uri are not matched", 401),
    201206: ("Api permission denied", 403),
    201207: ("Cache access_token failed", 503),
    201208: ("client_id client_secret are not matched", 401),
    201209: ("Invalid refresh_token", 401),
    201210: ("client_id is required", 400),
    201211: ("client_secret is required", 400),
    201212: ("Access username and password are required", 400),
    201213: ("Invalid client_id", 400),
    201214: ("client_id and username are not matched", 401),
    201215: ("Invalid authorization code", 401),
    201216: ("Invalid grant_type", 400),
    201301: ("Failed to delete access_token", 400),
    201401: ("Failed to revoke access_token", 400),
    202001: ("Account does not exist", 404),
    202002: ("The username already exists", 409),
    202003: ("The email already exists", 409),
    202004: ("The phone number already exists", 409),
    202005: ("The Nick name already exists", 409),
    202006: ("Verification code validation failed", 400),
    202007: ("The sending interval of verification code is %d seconds", 429),
    202101: ("Not logged in yet", 401),
    202102: ("Username and password are required", 400),
    202103: ("Incorrect password", 401),
    202201: ("Failed to send verification code", 502),
    202202: ("Failed to register", 500),
    202301: ("Fail to upload avatar", 400),
    202302: ("Fail to unbind SNS account", 400),
    202303: ("Failed to update user information", 500),
    202304: ("The old and new passwords are the same", 400),
    203101: ("No to-do events", 404),
    203201: ("Fail to add a event", 500),
    203301: ("Event id not specified", 400),
    204101: ("No friends found", 404),
    204102: ("Failed to make friends", 409),
    204103: ("Failed to delete a friend", 400),
    204104: ("Failed to notify your friend", 502),
}


class UpareError(Exception):
    """A refused request, carrying its code from api-faq.md.

    `message` overrides the table's text where the document gives an endpoint its own wording
    (e.g. 202002 on validateUniqueUsername); `errors` maps parameter names to reasons (100004);
    `args_` fill a `%d` in the message (202007); `status` overrides the table's HTTP status
    where CONTRACT gives a code another one (100004 is 413 for a body over the limit);
    `fields` are the endpoint's own fields a refusal still carries (202201's `uid`: the account
    was stored, only its mail failed).
    """

    def __init__(
        self,
        code: int,
        *args_: object,
        message: str | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        text = message or ERRORS[code][0]
        if args_:
            text = text % args_
        super().__init__(f"{code} {text}")
        self.code = code
        self.message = text
        self.errors = errors
        self.headers = headers or {}
        self.status = status or ERRORS[code][1]
        self.fields = fields or {}


def invalid(**errors: str) -> UpareError:
    """Return a 100004 Validation failed naming the bad parameters and why."""
    return UpareError(100004, errors=errors)
