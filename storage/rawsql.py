"""Hot statements run as their cached SQL text on the DBAPI connection.

A turn runs a few statements on every message. Through `Connection.execute` each costs
SQLAlchemy's execution context, cache lookup and result machinery (some 60–90 µs of CPU
on PostgreSQL, more than the driver's own work). `Prepared` keeps the SQLAlchemy
statement as the one source of truth: it compiles it once per dialect, with that
dialect's paramstyle, the bind and result processors of its types and the literal
values it carries, then runs the text on the driver connection under the SQLAlchemy
`Connection` (same transaction, same pool entry). Driver errors leave as SQLAlchemy's
`DBAPIError` subclasses, and a dropped connection is invalidated, exactly as
`Connection.execute` would do it; `before_cursor_execute`/`after_cursor_execute`
listeners still see the statement.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]


@dataclass(slots=True)
class Compiled:
    """One statement's text for one dialect and what running it needs."""

    sql: str | None  # None: column defaults computed in Python, SQLAlchemy's own path
    defaults: dict[str, Any]  # the literal values the statement carries
    binds: tuple[tuple[str, Processor], ...]  # bind processors, by parameter name
    positions: tuple[str, ...] | None  # parameter names in order (positional styles)
    row: Any  # a namedtuple type, fields named as the statement's columns
    types: tuple[Any, ...]  # the columns' types, for their result processors
    # Result processors by column index, made on the first run: some depend on the type
    # the driver reports for the column.
    results: tuple[tuple[int, Processor], ...] | None = None

    def processors(self, dialect: Dialect, description: Any) -> tuple[tuple[int, Processor], ...]:
        """The result processors, made from the first cursor description."""
        if self.results is None and len(self.types) != len(description):
            # A statement whose result columns are not its exported ones (a SELECT over
            # data-modifying CTEs): rows named as the driver describes them, values as sent.
            self.row = _row_type([d[0] for d in description])
            self.results = ()
        if self.results is None:
            found = []
            for index, (type_, described) in enumerate(zip(self.types, description, strict=True)):
                impl = type_.dialect_impl(dialect)
                processor = impl.result_processor(dialect, described[1])
                if processor is not None:
                    found.append((index, processor))
            self.results = tuple(found)
        return self.results


def _row_type(names: list[str]) -> Any:
    # A namedtuple type made at run time (mypy cannot type one held as an attribute).
    return namedtuple("Row", names, rename=True)


def compile_for(statement: Any, dialect: Dialect) -> Compiled:
    """Compile `statement` for `dialect` as `Connection.execute` would send it."""
    compiled = statement.compile(dialect=dialect)
    # Column defaults evaluated in Python per execution: only SQLAlchemy computes them.
    python_defaults = bool(compiled.insert_prefetch or compiled.update_prefetch)
    # `bind_names`: each bind parameter with its name in the text (anonymous ones too).
    required = {name for bind, name in compiled.bind_names.items() if bind.required}
    defaults = {k: v for k, v in compiled.params.items() if k not in required}
    binds: dict[str, Processor] = {}
    for bind, name in compiled.bind_names.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        if name in required:
            binds[name] = processor
        else:  # a literal: processed once, here
            defaults[name] = processor(defaults[name])
    columns = list(getattr(statement, "exported_columns", ()))  # SELECT or RETURNING
    names = [column.key for column in columns]
    positional = compiled.positional
    return Compiled(
        sql=None if python_defaults else compiled.string,
        defaults=defaults,
        binds=tuple(binds.items()),
        positions=tuple(compiled.positiontup) if positional else None,
        row=_row_type(names) if names else tuple,
        types=tuple(column.type for column in columns),
    )


class Prepared:
    """A SQLAlchemy statement run as cached SQL text on the driver connection."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> Compiled:
        """The statement compiled for `dialect` (once)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.get(dialect.name)
                if found is None:
                    found = self._compiled[dialect.name] = compile_for(self.statement, dialect)
        return found

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run with `params`; every row, as a namedtuple."""
        c = self.compiled(conn.dialect)
        if c.sql is None:
            return list(conn.execute(self.statement, dict(params)))
        values = {**c.defaults, **params}
        for name, processor in c.binds:
            values[name] = processor(values[name])
        args: Any = values if c.positions is None else tuple(values[n] for n in c.positions)
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = dbapi_conn.cursor()
        try:
            listening = bool(conn.dispatch.before_cursor_execute) or bool(
                conn.dispatch.after_cursor_execute
            )
            if listening:
                for listener in conn.dispatch.before_cursor_execute:
                    listener(conn, cursor, c.sql, args, None, False)
            cursor.execute(c.sql, args)
            description = cursor.description
            fetched = cursor.fetchall() if description is not None else []
            results = c.processors(conn.dialect, description) if fetched else ()
            if listening:
                for after in conn.dispatch.after_cursor_execute:
                    after(conn, cursor, c.sql, args, None, False)
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrapped(conn, cursor, c.sql, error) from error
        finally:
            cursor.close()
        make = c.row._make if c.row is not tuple else tuple
        if not results:
            return [make(found) for found in fetched]
        out = []
        for found in fetched:
            values_ = list(found)
            for index, processor in results:
                values_[index] = processor(values_[index])
            out.append(make(values_))
        return out


def _wrapped(conn: Connection, cursor: Any, sql: str, error: Any) -> exc.StatementError:
    # As `Connection._handle_dbapi_exception`: a disconnect invalidates the pooled
    # connection (the pool replaces it), and the error says so.
    dialect = conn.dialect
    dbapi_conn = conn.connection.dbapi_connection
    gone = dialect.is_disconnect(error, dbapi_conn, cursor)
    if gone:
        conn.invalidate(error)
    wrapped: exc.StatementError = exc.DBAPIError.instance(
        sql,
        None,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=gone,
        dialect=dialect,
    )
    return wrapped


# id(statement) -> (the statement, kept alive so that its id stays its own; its Prepared)
_PREPARED: dict[int, tuple[Any, Prepared]] = {}


def rows(conn: Connection, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
    """Run a long-lived `statement` (built once, or once per shape) as its cached text."""
    known = _PREPARED.get(id(statement))
    if known is None or known[0] is not statement:
        known = _PREPARED[id(statement)] = (statement, Prepared(statement))
    return known[1].rows(conn, params)


def first(conn: Connection, statement: Executable, params: Mapping[str, Any]) -> Any:
    """`rows` for a statement that returns at most one row: that row, or None."""
    found = rows(conn, statement, params)
    return found[0] if found else None
