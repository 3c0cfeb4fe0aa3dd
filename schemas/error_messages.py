"""marshmallow's nested error messages as lines that name their key, for the
configuration file and for the service's HTTP errors alike."""

from __future__ import annotations

from typing import Any, Mapping

_MESSAGE_REWRITES = {
    "Unknown field.": "unknown key",
    "Missing data for required field.": "is required",
    "Not a valid integer.": "must be a whole number",
    "Not a valid number.": "must be a number",
    "Not a valid boolean.": "must be true or false",
    "Not a valid string.": "must be a text value in quotes",
    "Not a valid list.": "must be a list, for example [\"a\", \"b\"]",
    "Not a valid date.": "must be a date written YYYY-MM-DD",
    "Not a valid time.": "must be a time written HH:MM",
    "Invalid input type.": "must be a table (a [section] in TOML)",
}


CONFIG_UNKNOWN_HINT = "; check its spelling against config.example.toml"


def flatten_errors(messages: Any, prefix: str = "", unknown_hint: str = "", name_unknown: bool = True) -> list[str]:
    """Turn marshmallow's nested error dict into lines "key.path: message".
    List positions are shown counting from 1, as a person reads the file.
    With name_unknown=False an unknown key is not repeated (a request's own
    key names are content, and errors never quote a request): its place is
    named instead ("issue: has a key this service does not know")."""
    lines: list[str] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key + 1}]"
            elif key == "_schema":
                path = prefix
            elif not name_unknown and value == ["Unknown field."]:
                lines.append(f"{prefix or '(top level)'}: has a key this service does not know")
                continue
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            lines.extend(flatten_errors(value, path, unknown_hint, name_unknown))
    elif isinstance(messages, (list, tuple)):
        for value in messages:
            lines.extend(flatten_errors(value, prefix, unknown_hint, name_unknown))
    else:
        text = str(messages)
        message = _MESSAGE_REWRITES.get(text, text) + (unknown_hint if text == "Unknown field." else "")
        lines.append(f"{prefix or '(top level)'}: {message}")
    return list(dict.fromkeys(lines))
