"""The inbound path's statements run straight on the sqlite3 connection.

SQLAlchemy spends some 40 µs on each execution of even a cached statement (cache lookup,
an execution context, parameter and result objects) where SQLite itself needs 5–15 µs;
with seven statements a webhook that was a quarter of the server's time in
benchmarks/load.py. A statement marked with `direct()` is compiled by SQLAlchemy once
per set of parameter names (`plan`), with the same SQL, the same parameter order and the
same type processors (dates, JSON, booleans) that SQLAlchemy would use; after that
`Plan.run` only converts the values and calls the driver. A statement that needs more of
SQLAlchemy's execution (Python-side column defaults, expanding IN parameters) gets no plan
and runs the usual way; so does every statement not marked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

S = TypeVar("S", bound=Executable)
Processor = Callable[[Any], Any] | None

_DIRECT: dict[int, Executable] = {}


def direct(statement: S) -> S:
    """Mark a statement that is built once and kept (module level, or cached) as one to
    run directly on SQLite."""
    _DIRECT[id(statement)] = statement
    return statement


def is_direct(statement: object) -> bool:
    return _DIRECT.get(id(statement)) is statement


class DirectRows:
    """The part of SQLAlchemy's `Result` the inbound path uses."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def first(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def one(self) -> tuple[Any, ...]:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


_REQUIRED = object()


class Plan:
    """One statement, compiled for one set of parameter names."""

    __slots__ = ("params", "results", "sql")

    def __init__(self, sql: str, params: list[tuple[str, Any, Processor]],
                 results: list[Processor] | None) -> None:
        self.sql = sql
        self.params = params
        self.results = results

    def run(self, connection: sqlite3.Connection, given: Mapping[str, Any]) -> DirectRows:
        values = []
        for name, default, process in self.params:
            value = given[name] if name in given else default
            if value is _REQUIRED:
                raise KeyError(f"a value is required for {name!r}")
            values.append(value if process is None else process(value))
        cursor = connection.execute(self.sql, values)
        try:
            if self.results is None:
                return DirectRows([], cursor.rowcount)
            rows = cursor.fetchall()
            processors = self.results
            if any(p is not None for p in processors):
                rows = [tuple(v if p is None else p(v) for p, v in zip(processors, row,
                                                                       strict=True))
                        for row in rows]
            return DirectRows(rows, cursor.rowcount)
        finally:
            cursor.close()


def plan(statement: Executable, names: Sequence[str], dialect: Dialect) -> Plan | None:
    """The statement compiled as SQLAlchemy would for parameters `names`; None when it
    needs SQLAlchemy's own execution."""
    element: Any = statement
    compiled: Any = element.compile(dialect=dialect, column_keys=sorted(names))
    if compiled.positiontup is None or any(getattr(compiled, needs, None) for needs in (
            "insert_prefetch", "update_prefetch", "postfetch", "post_compile_params",
            "literal_execute_params", "escaped_bind_names")):
        return None
    params: list[tuple[str, Any, Processor]] = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        default = _REQUIRED if bind.required and name not in names else bind.effective_value
        params.append((name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    # A SELECT's columns, or the RETURNING columns of an INSERT or UPDATE (none: no rows).
    columns = list(getattr(statement, "exported_columns", ()))
    results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
               for c in columns] or None
    return Plan(compiled.string, params, results)
