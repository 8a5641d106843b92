"""What every ``lumbung`` command shares: the terminal, failing with one clear line,
the settings, and a database that is known to be migrated."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import sqlalchemy as sa
import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.core import TyperGroup

from registry import migrate
from registry.db import create_db_engine, session_scope
from registry.errors import LumbungError
from registry.settings import Settings, SettingsError, get_settings

out = Console()
# soft_wrap: an error stays one line, whatever the terminal's width.
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


class NodeCommands(TyperGroup):
    """The ``lumbung`` command group: a database the command cannot reach (down,
    wrong host, wrong password) is reported as one line and exit code 1 by whichever
    command meets it, instead of a traceback of SQLAlchemy's and the driver's frames."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except sa.exc.OperationalError as exc:
            fail(f"cannot reach the database: {_reason(exc)}")


def node_engine(settings: Settings) -> Engine:
    """The node's database, migrated to the newest schema.

    A brand-new empty database is migrated on the spot, so an operator can prepare a
    node (publishers, clients, peers) before its first ``serve``. A database at an older
    migration is left alone: upgrading production is a decision, not a side effect.
    """
    engine = create_db_engine(settings)
    try:
        current = migrate.current_revision(engine)
        empty = current is None and not sa.inspect(engine).get_table_names()
    except sa.exc.SQLAlchemyError as exc:
        fail(f"cannot reach the database: {_reason(exc)}")
    head = migrate.head_revision(settings)
    if current == head:
        return engine
    if empty:
        migrate.upgrade(settings)
        err.print(f"created the node's database at migration {head}")
        return engine
    fail(
        f"the database is at migration {current or 'base'}, not the newest ({head}); "
        "run `lumbung db upgrade`"
    )


@contextmanager
def operator_session(settings: Settings, *, write: bool = True) -> Iterator[Session]:
    """One unit of work on the node's database; domain and database errors become one
    clear line and a non-zero exit."""
    engine = node_engine(settings)
    try:
        with session_scope(engine, write=write) as session:
            yield session
    except LumbungError as exc:
        fail(str(exc.detail or exc))
    except sa.exc.SQLAlchemyError as exc:
        fail(f"the database refused the change: {_reason(exc)}")
    finally:
        engine.dispose()


def commands(help: str) -> typer.Typer:
    """A group of ``lumbung`` commands. Help is written as Markdown, so a docstring's
    lines join into paragraphs the terminal wraps, instead of breaking where the source
    did."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode="markdown")


#: The help of every list command's ``--json`` flag.
JSON_HELP = "Print JSON instead of a table, for scripts."
#: Every list command's ``--json`` flag.
JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def print_json(payload: Any) -> None:
    """What ``--json`` prints: one indented document on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def progress_bar(label: str, *, quiet: bool) -> Progress:
    """A progress bar on stderr, so stdout keeps only the result; hidden by ``--quiet``.
    ``label`` may name the task's description (``{task.description}``)."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    )


class Listing(Table):
    """A table that operators copy ids and URLs out of: no cell is ever broken inside
    a word. When the rows do not fit the terminal, each row is printed as a block
    instead, its first cell (the id) on a line of its own and the others below it."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # The width the rows want with room to spare, not squeezed to the terminal.
        natural = self.__rich_measure__(console, options.update_width(10_000)).maximum
        if natural <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        headers = [str(column.header) for column in self.columns]
        width = max(len(header) for header in headers[1:])
        rows = zip(*(column.cells for column in self.columns), strict=True)
        for number, cells in enumerate(rows):
            if number:
                yield Text()
            first, *rest = (str(cell) for cell in cells)
            yield Text(first, style="bold", no_wrap=True, overflow="ignore")
            for header, value in zip(headers[1:], rest, strict=True):
                yield Text(f"  {header.ljust(width)}  {value}".rstrip())


def table(*headers: str) -> Listing:
    """A :class:`Listing` with these column headers; the first should be the id."""
    grid = Listing()
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid


def iso_seconds(value: datetime | None) -> str:
    """A timestamp for JSON output: to the second, as stored."""
    return value.isoformat(timespec="seconds") if value else ""


def to_minute(value: datetime | None) -> str:
    """A timestamp for a table cell: to the minute, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


#: A column of ``print_rows``: the key of the row's value, or how to write the cell.
Column = str | Callable[[dict[str, Any]], str]


def print_rows(rows: list[dict[str, Any]], as_json: bool, columns: dict[str, Column]) -> None:
    """What a list command prints: the rows as JSON with ``--json``, else a table with
    ``columns`` (header -> column), the first the id."""
    if as_json:
        print_json(rows)
        return
    grid = table(*columns)
    for row in rows:
        grid.add_row(*(row[c] if isinstance(c, str) else c(row) for c in columns.values()))
    out.print(grid)
