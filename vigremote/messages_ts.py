"""web/messages.d.ts, the browser's types, generated from vigremote/messages.py.

    .venv/bin/python -m vigremote.messages_ts > web/messages.d.ts

Every definition there becomes TypeScript in the same order and with its docstring, so tsc
checks the pages (JSDoc: `import('./messages').ServerMessage`) against what the server sends.
"""

import inspect
import re
import sys
import typing
from types import NoneType, UnionType
from typing import Literal

from vigremote import messages

HEADER = """\
// Generated from vigremote/messages.py: do not edit. After changing a message there, run
//     .venv/bin/python -m vigremote.messages_ts > web/messages.d.ts
// (tests/test_messages.py fails while this file is stale).
"""


def _aliases() -> dict[object, str]:
    """The named Literal types of messages.py, so the TypeScript keeps their names."""
    return {
        value: name
        for name, value in vars(messages).items()
        if typing.get_origin(value) is Literal and not name.startswith("_")
    }


def _ts(hint: object, aliases: dict[object, str], named: bool = True) -> str:
    """The TypeScript for a type used in a message (anything else is a mistake there)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if named and hint in aliases:
        return aliases[hint]
    if hint is str:
        return "string"
    if hint is int or hint is float:
        return "number"
    if hint is bool:
        return "boolean"
    if hint is None or hint is NoneType:
        return "null"
    if origin is Literal:
        return " | ".join("'" + str(a).replace("'", "\\'") + "'" for a in args)
    if origin is list:
        inner = _ts(args[0], aliases)
        return f"({inner})[]" if " | " in inner else f"{inner}[]"
    if origin is UnionType or origin is typing.Union:
        return " | ".join(_ts(a, aliases) for a in args)
    if typing.is_typeddict(hint):
        return str(hint.__name__)  # type: ignore[attr-defined]
    raise TypeError(f"no TypeScript for {hint!r} in vigremote/messages.py")


def _doc(text: str | None) -> list[str]:
    """A docstring as a JSDoc comment (editors show it on hover)."""
    if not text:
        return []
    return ["/**", *(f" * {line}".rstrip() for line in inspect.cleandoc(text).splitlines()), " */"]


def _field_notes(definition: type) -> dict[str, str]:
    """The comment at the end of each field's line in messages.py, by field."""
    found = re.finditer(r"^\s+(\w+): [^#\n]*#\s*(.+)$", inspect.getsource(definition), re.MULTILINE)
    return {match.group(1): match.group(2).strip() for match in found}


def typescript() -> str:
    """web/messages.d.ts: every definition in messages.py, in order, as TypeScript."""
    aliases = _aliases()
    out = [HEADER]
    for name, value in vars(messages).items():
        if name.startswith("_"):
            continue
        if aliases.get(value) == name:
            out.append(f"export type {name} = {_ts(value, aliases, named=False)};\n")
        elif typing.is_typeddict(value):
            out += _doc(value.__doc__)
            out.append(f"export interface {name} {{")
            notes = _field_notes(value)
            for field, hint in typing.get_type_hints(value).items():
                mark = "?" if field in value.__optional_keys__ else ""
                if field in notes:
                    out.append(f"  /** {notes[field]} */")
                out.append(f"  {field}{mark}: {_ts(hint, aliases)};")
            out.append("}\n")
    for name in ("ClientMessage", "ServerMessage"):
        members = typing.get_args(vars(messages)[name])
        out += _doc(_UNION_DOCS[name])
        out.append(f"export type {name} = {' | '.join(m.__name__ for m in members)};\n")
    return "\n".join(out)


_UNION_DOCS = {
    "ClientMessage": "Every message a browser may send.",
    "ServerMessage": "Every message the server sends (a page narrows it by `type`).",
}

if __name__ == "__main__":
    sys.stdout.write(typescript())
