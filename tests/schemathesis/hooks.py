"""Vigil's additions to schemathesis (loaded by `run`).

- A check: every refusal is Masakari's fault body, `{"<name>": {"code": <status>, "message":
  "..."}}`, the name given by the status (vigil_wire::fault_name); clients read the message from
  there. The one exception is webob's plain-text 404 for a path no route serves, which Masakari
  answers too.

Masakari's own `name` and `description` formats are published as patterns
(vigil_api::schema::name_pattern), from which schemathesis generates values on either side.
"""

import json

import schemathesis

# vigil_wire::fault_name; any other status is a "masakariFault".
FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


@schemathesis.check
def masakari_fault_body(ctx, response, case):
    """A 4xx or 5xx answer carries Masakari's fault body (a HEAD answer has no body)."""
    status = response.status_code
    if status < 400 or response.request.method == "HEAD":
        return None
    text = response.content.decode("utf-8", "replace")
    content_type = ",".join(
        v for k, values in response.headers.items() if k.lower() == "content-type" for v in values
    )
    if status == 404 and text.startswith("404 Not Found"):
        if not content_type.startswith("text/plain"):
            raise AssertionError(f"plain-text 404 served as {content_type!r}")
        return None
    if not content_type.startswith("application/json"):
        raise AssertionError(f"{status} fault served as {content_type!r}: {text[:300]!r}")
    try:
        body = json.loads(text)
    except ValueError:
        raise AssertionError(f"{status} answer is not JSON: {text[:300]!r}") from None
    name = FAULT_NAMES.get(status, "masakariFault")
    if not isinstance(body, dict) or list(body) != [name]:
        raise AssertionError(f"{status} answer is not one {name!r} fault: {text[:300]!r}")
    fault = body[name]
    if not isinstance(fault, dict) or fault.get("code") != status:
        raise AssertionError(f"{status} fault without code {status}: {text[:300]!r}")
    if not isinstance(fault.get("message"), str):
        raise AssertionError(f"{status} fault without a message: {text[:300]!r}")
    return None
