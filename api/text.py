"""What text may be stored: the one rule every free-text field of the API goes through.

A field refuses control characters (Unicode category Cc: NUL, ESC, DEL, the C1 range...)
and lone surrogates, which no database should hold (PostgreSQL refuses NUL in text, and a
lone surrogate cannot be encoded as UTF-8). Newline and tab are text and pass; a carriage
return passes only as part of CR LF, which is stored as a newline (so a Windows client's
line breaks and a browser's agree); a carriage return on its own is refused.

Use :data:`Text` for a ``str`` field, or :data:`NO_CONTROL` in ``Annotated[...]`` before
any other type (a ``Literal``, an enum) so the refusal comes first and says the same thing;
:func:`refuse` gives the same 422 for text read outside a model (a form), and
:func:`control_character` is the rule itself.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from api.errors import printable

#: Control characters that are text.
ALLOWED_CONTROLS = frozenset("\n\t")

#: The pydantic error type of a refusal (the pages translate it by this name).
ERROR_TYPE = "control_character"
MESSAGE = "must not contain control characters (found {found})"


def control_character(value: str) -> str | None:
    """The first character of ``value`` that may not be stored, as ``U+XXXX``; else None.

    A carriage return directly followed by a newline is allowed (see :func:`normalize`).
    """
    for i, char in enumerate(value):
        if char in ALLOWED_CONTROLS:
            continue
        if char == "\r" and value[i + 1 : i + 2] == "\n":
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None


def normalize(value: str) -> str:
    """``value`` with CR LF line breaks stored as LF."""
    return value.replace("\r\n", "\n")


def _refuse_controls(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the field's own type says what else it takes
    found = control_character(value)
    if found is not None:
        raise PydanticCustomError(ERROR_TYPE, MESSAGE, {"found": found})
    return normalize(value)


def refuse(value: str, *loc: str | int) -> None:
    """Raise the API's 422 naming ``loc`` (e.g. ``"body", "username"``) when ``value``
    holds a control character: for text a route reads outside a pydantic model."""
    found = control_character(value)
    if found is not None:
        error = PydanticCustomError(ERROR_TYPE, MESSAGE, {"found": found})
        raise RequestValidationError(
            [
                {
                    "type": error.type,
                    "loc": loc,
                    "msg": error.message(),
                    "input": printable(value),
                    "ctx": error.context,
                }
            ]
        )


#: Put before a field's type in ``Annotated[...]`` to refuse control characters first.
NO_CONTROL = BeforeValidator(_refuse_controls)

#: A text field that may be stored.
Text = Annotated[str, NO_CONTROL]
