"""Identifiers from configuration are validated, then quoted: never pasted raw into SQL."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class InvalidIdentifierError(ValueError):
    pass


def checked(name: str, what: str = "identifier") -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidIdentifierError(
            f"Invalid {what} {name!r}: use letters, digits and underscores, starting with a letter "
            "or underscore, at most 63 characters."
        )
    return name


def quote(name: str, what: str = "identifier") -> str:
    """Validate, then double-quote (valid on DuckDB, PostgreSQL and Snowflake)."""
    return f'"{checked(name, what)}"'


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema, 'schema name')}.{quote(table, 'table name')}"
