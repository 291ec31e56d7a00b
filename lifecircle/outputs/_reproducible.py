"""Reproducible files: the same inputs give byte-identical outputs.

Office files are zip archives that record a timestamp for every member, and workbooks also carry
"created" and "modified" document properties; both default to the moment of writing. Here they
come from ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) when it is set, and otherwise
from a fixed moment, 1980-01-01 00:00 UTC (the earliest date a zip archive can hold).
"""

from __future__ import annotations

import contextvars
import io
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The moment used when SOURCE_DATE_EPOCH is not set: the zip format's earliest date.
FIXED_MOMENT = datetime(1980, 1, 1, tzinfo=UTC)


def output_moment() -> datetime:
    """The timestamp written into output files (UTC).

    Returns
    -------
    datetime.datetime
        ``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC) when set to an integer, else the date
        of the inputs of the output set being written, else :data:`FIXED_MOMENT`; never
        earlier than 1980-01-01, which zip archives cannot hold.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.lstrip("-").isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=UTC)
        return max(moment, FIXED_MOMENT)
    # Inside an output set: the moment of its inputs (see files.output_timestamp).
    of_inputs = set_moment.get()
    return max(of_inputs, FIXED_MOMENT) if of_inputs is not None else FIXED_MOMENT


#: The moment of the output set being written (its inputs' date), when there is one.
set_moment: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "lifecircle_set_moment", default=None
)


def normalised_zip(data: bytes, moment: datetime | None = None) -> bytes:
    """A zip archive rewritten with one timestamp and fixed attributes on every member.

    Parameters
    ----------
    data : bytes
        A zip archive (e.g. an ``.xlsx`` file).
    moment : datetime, optional
        The members' timestamp (default :func:`output_moment`).

    Returns
    -------
    bytes
        The same members, in the same order, with the same contents, deflated.
    """
    stamp = (moment or output_moment()).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the bytes do not depend on the platform
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(member.filename))
    return out.getvalue()


def save_workbook(book: Any, path: str | Path) -> None:
    """Save an openpyxl workbook reproducibly: fixed document properties and zip timestamps.

    Parameters
    ----------
    book : openpyxl.Workbook
        The workbook.
    path : str or Path
        Destination file (written directly; wrap in an atomic write).
    """
    from openpyxl.writer.excel import ExcelWriter

    moment = output_moment().replace(tzinfo=None)  # openpyxl stores naive UTC
    book.properties.created = moment
    book.properties.modified = moment
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps "modified" with the current time.
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(book, archive).save()
    Path(path).write_bytes(normalised_zip(buffer.getvalue()))
