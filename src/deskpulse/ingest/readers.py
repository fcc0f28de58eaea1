"""Open one input file for validation as DuckDB text columns, losing nothing on the way.

The one job of this module: turn a CSV (also ``.gz``), Parquet or JSON Lines file into a
:class:`~deskpulse.ingest.validate.Source` whose columns are all VARCHAR and whose rows have
known 1-based data row numbers. A CSV is not copied: the source is a ``read_csv(...)`` call
with ``all_varchar = true`` that the validation query scans once, in file order. A Parquet
file opened ``typed`` (canonical imports) is not copied either: ``read_parquet(...)`` is
scanned in place, with the SQL of each column's text and, for timestamp columns, of its naive
UTC value (:class:`Opened`). JSON Lines (and Parquet for the presets) are staged into a temp
table of text columns first. Encoding and dialect problems are handled here, before
validation sees the data:

* UTF-8 with a BOM is read as is (the BOM is not part of the first header);
* bytes that are not valid UTF-8 are decoded as cp1252 (a superset of the printable
  Latin-1 range; the five bytes cp1252 leaves undefined fall back to Latin-1), the file is
  transcoded to UTF-8 in a temporary directory and a warning says so; UTF-16 files (with a BOM)
  are transcoded too;
* the delimiter (``,`` ``;`` tab ``|``) is sniffed from the first lines; anything but the one the
  extension implies is reported as a warning;
* CSV rows with the wrong number of fields (or an unterminated quote) are not fatal: when the
  strict scan fails, the file is read again with DuckDB's reject store, the good rows keep
  their true row numbers and the bad ones come back as reject rows (``Source.malformed``);
* lines starting with ``#`` are data, not comments (DuckDB's sniffer would drop them).

Whole-file problems (missing, unreadable, empty) raise :class:`~deskpulse.errors.BadInputError`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import duckdb

from deskpulse.errors import BadInputError, UsageError
from deskpulse.ingest.sql import Params, ident, render, run
from deskpulse.ingest.validate import Source

log = logging.getLogger(__name__)

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
_CP1252_HANDLER = "deskpulse-cp1252"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the offending bytes as cp1252 (undefined bytes as Latin-1)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    out = []
    for b in bad:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out), exc.end


codecs.register_error(_CP1252_HANDLER, _cp1252_fallback)


@dataclass
class Opened:
    """A file opened for validation: the Source to scan and its columns (physical, label).

    A typed source (Parquet read in place) also gives, per physical column, the SQL of its
    value as text (``text``: null tokens applied) and, for timestamp columns, a template that
    turns the typed column into naive UTC (``native``: one ``{}`` slot for the column). Without
    them every column of ``r`` is already text.
    """

    source: Source
    columns: list[tuple[str, str]]  # (column name in the relation, cleaned header label)
    retry: Callable[[duckdb.Error], Opened] | None = None  # recover from an error at scan time
    text: dict[str, str] = field(default_factory=dict)  # physical name -> SQL over r (text)
    native: dict[str, str] = field(default_factory=dict)  # physical name -> timestamp template

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.columns]

    def text_sql(self, name: str) -> str:
        """SQL over ``r`` for the text of physical column ``name``."""
        return self.text.get(name, f"r.{ident(name)}")


def file_label(path: Path) -> str:
    return path.name or str(path)


def detect_format(path: Path, fmt: str | None) -> str:
    """csv | parquet | jsonl, from ``fmt`` or else the file extension."""
    if fmt is not None:
        f = fmt.strip().lower()
        f = {"json": "jsonl", "ndjson": "jsonl", "tsv": "csv", "pq": "parquet"}.get(f, f)
        if f not in ("csv", "parquet", "jsonl"):
            raise UsageError(f"unknown format {fmt!r}: use csv, parquet or jsonl", format=fmt)
        return f
    name = path.name.lower()
    for suffix in (".gz", ".gzip"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".csv", ".tsv", ".txt", ".psv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise UsageError(
        f"{path.name}: cannot tell the format from the extension; pass --format csv|parquet|jsonl",
        file=str(path),
    )


def _bad(path: Path, reason: str) -> BadInputError:
    return BadInputError(f"{file_label(path)}: {reason}", file=str(path), reason=reason)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise _bad(path, "unreadable file: no such file")
    if path.is_dir():
        raise _bad(path, "unreadable file: is a directory")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise _bad(path, f"unreadable file: {exc.strerror or exc}") from exc
    if size == 0:
        raise _bad(path, "empty file")


def _read_sample(path: Path, gz: bool) -> bytes:
    try:
        if gz:
            with gzip.open(path, "rb") as fh:
                return fh.read(SAMPLE_BYTES)
        with path.open("rb") as fh:
            return fh.read(SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise _bad(path, f"unreadable file: {exc}") from exc


@dataclass
class _Encoding:
    name: str  # utf-8 | utf-8-sig | utf-16 | cp1252
    text: str  # decoded sample


def _sniff_encoding(sample: bytes) -> _Encoding:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _Encoding("utf-16", sample.decode("utf-16", errors="replace"))
    name = "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"
    dec = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        return _Encoding(name, dec.decode(sample, final=False))
    except UnicodeDecodeError:
        text = sample.decode("utf-8", errors=_CP1252_HANDLER).lstrip("\ufeff")
        return _Encoding("cp1252", text)


def sniff_delimiter(text: str, preferred: str = ",") -> str:
    """Pick the delimiter that splits the first lines into the most, and most consistent, fields."""
    lines = text.splitlines()[:50]
    if lines and not text.endswith(("\n", "\r")) and len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-line
    head = "\n".join(lines)
    best, best_score = preferred, (0, 0.0, 0)
    for delim in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO(head), delimiter=delim, quotechar='"'))
        except csv.Error:
            continue
        rows = [r for r in rows if r]
        if not rows:
            continue
        width = len(rows[0])
        if width < 2:
            continue
        consistent = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (1 if consistent >= 0.9 else 0, consistent * width, 1 if delim == preferred else 0)
        if score > best_score:
            best, best_score = delim, score
    return best


def transcode(path: Path, dst: Path, gz: bool, encoding: str) -> None:
    """Write ``path`` as UTF-8 (no BOM) to ``dst``, decoding bad UTF-8 bytes as cp1252."""

    def open_bytes() -> IO[bytes]:
        if gz:
            return cast(IO[bytes], gzip.open(path, "rb"))
        return path.open("rb")

    if encoding == "utf-16":
        with open_bytes() as raw, dst.open("w", encoding="utf-8", newline="") as out:
            text_in = io.TextIOWrapper(raw, encoding="utf-16", newline="")
            while chunk := text_in.read(1 << 22):
                out.write(chunk)
        return
    dec = codecs.getincrementaldecoder("utf-8")(errors=_CP1252_HANDLER)
    first = True
    with open_bytes() as fh, dst.open("w", encoding="utf-8", newline="") as out:
        while True:
            data = fh.read(1 << 22)
            text = dec.decode(data, final=not data)
            if first and text:
                text = text.lstrip("\ufeff")
                first = False
            out.write(text)
            if not data:
                break


class Loader:
    """Opens files for validation in one DuckDB connection; names its tables ``_raw_<role>``."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, tmpdir: Path, warnings: list[str], tz: str = "UTC"
    ) -> None:
        self.con = con
        self.tmpdir = tmpdir
        self.warnings = warnings
        self.tz = tz  # zone of naive timestamps of typed sources
        self._n = 0

    def open(
        self,
        path: Path,
        role: str,
        *,
        fmt: str | None,
        null_values: tuple[str, ...] = (),
        delimiter: str | None = None,
        typed: bool = False,
    ) -> Opened:
        """Open ``path``. ``typed``: a Parquet file is scanned in place with its own types
        (:meth:`_open_parquet`) instead of being staged as text."""
        path = Path(path)
        _check_file(path)
        kind = detect_format(path, fmt)
        table = f"_raw_{role}"
        if kind == "csv":
            return self._open_csv(path, table, null_values, delimiter)
        if kind == "parquet":
            if typed:
                return self._open_parquet(path, null_values)
            return self._load_parquet(path, table, null_values)
        return self._load_jsonl(path, table, null_values)

    # --- CSV ------------------------------------------------------------------------------------
    def _open_csv(
        self, path: Path, table: str, null_values: tuple[str, ...], delimiter: str | None
    ) -> Opened:
        label = file_label(path)
        gz = _is_gzip(path)
        sample = _read_sample(path, gz)
        if not sample.strip(b" \t\r\n\x00\xef\xbb\xbf"):
            raise _bad(path, "empty file")
        enc = _sniff_encoding(sample)
        lower = path.name.lower()
        preferred = "\t" if ".tsv" in lower else "|" if ".psv" in lower else ","
        delim = delimiter or sniff_delimiter(enc.text, preferred)
        if delimiter is None and delim != preferred:
            shown = {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}[delim]
            self.warnings.append(f"{label}: delimiter {shown} detected (not the usual ',')")
        source = path
        if enc.name in ("cp1252", "utf-16"):
            source = self._transcode(path, gz, enc.name)

        def stream(src_path: Path) -> Opened:
            p = Params("s")
            call = f"read_csv({p.add(str(src_path))}, {_csv_options(p, delim, null_values)})"
            try:
                described = self.con.execute(
                    render("DESCRIBE SELECT * FROM {call}", call=call), p.used_in(call)
                ).fetchall()
            except duckdb.Error as exc:
                return recover(exc, src_path)
            cols = [(str(r[0]), str(r[0]).lstrip("\ufeff").strip() or str(r[0])) for r in described]
            return Opened(
                Source(call, label, p, row_sql=None), cols, retry=lambda exc: recover(exc, src_path)
            )

        def recover(exc: duckdb.Error, src_path: Path) -> Opened:
            msg = str(exc)
            if "unicode" in msg.lower() and src_path == path:
                return stream(self._transcode(path, gz, "cp1252"))
            log.debug("strict CSV read of %s failed (%s); retrying with a reject store", label, msg)
            try:
                return self._tolerant_csv(src_path, table, label, delim, null_values)
            except duckdb.Error as exc2:
                raise _bad(path, f"unreadable file: {_first_line(str(exc2))}") from exc2

        return stream(source)

    def _transcode(self, path: Path, gz: bool, encoding: str) -> Path:
        self._n += 1
        name = path.name
        for suffix in (".gz", ".gzip"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
        dst = self.tmpdir / f"transcoded-{self._n}-{name}"
        try:
            transcode(path, dst, gz, encoding)
        except (OSError, EOFError, zlib.error, UnicodeError) as exc:
            raise _bad(path, f"unreadable file: {exc}") from exc
        if encoding == "utf-16":
            self.warnings.append(f"{file_label(path)}: decoded as UTF-16 (transcoded to UTF-8)")
        else:
            self.warnings.append(f"{file_label(path)}: decoded as cp1252 (not valid UTF-8)")
        return dst

    def _tolerant_csv(
        self, source: Path, table: str, label: str, delim: str, null_values: tuple[str, ...]
    ) -> Opened:
        """Materialize the file, collecting malformed rows in DuckDB's reject store."""
        p = Params("t")
        rej = f"{table}_rejects"
        opts = _csv_options(p, delim, null_values) + (
            f", ignore_errors = true, store_rejects = true, rejects_table = '{rej}', rejects_scan = '{rej}_scan'"
        )
        run(self.con, f"DROP TABLE IF EXISTS {table}")
        stmt = "CREATE TEMP TABLE {t} AS SELECT * FROM read_csv({path}, {opts})"
        run(self.con, render(stmt, t=table, path=p.add(str(source)), opts=opts), p)
        described = self.con.execute(f"DESCRIBE {table}").fetchall()
        cols = [(str(r[0]), str(r[0]).lstrip("\ufeff").strip() or str(r[0])) for r in described]
        bad = self.con.execute(
            render(
                "SELECT DISTINCT line - 1 AS row, csv_line, error_type, error_message FROM {rej} ORDER BY 1",
                rej=rej,
            )
        ).fetchall()
        malformed = [
            (int(r[0]), str(r[1]), f"malformed CSV row ({str(r[2]).lower()}): {r[3]}") for r in bad
        ]
        if not malformed:
            return Opened(Source(table, label, row_sql="(r.rowid + 1)"), cols)
        # Number the good rows around the bad ones: the k-th bad row (data row d_k) has
        # d_k - k good rows before it, so good row g lands at g + #{k : d_k - k < g}.
        numbered = f"{table}_n"
        run(self.con, f"DROP TABLE IF EXISTS {numbered}")
        run(
            self.con,
            render(
                """
                CREATE TEMP TABLE {numbered} AS
                WITH bad AS (SELECT DISTINCT line - 1 AS d FROM {rej}),
                     gaps AS (SELECT d - row_number() OVER (ORDER BY d) AS gap FROM bad),
                     steps AS (SELECT gap, count(*) OVER (ORDER BY gap) AS k FROM gaps)
                SELECT t.*, (t.rowid + 1) + coalesce(s.k, 0) AS __row
                FROM {table} t ASOF LEFT JOIN (SELECT gap, max(k) AS k FROM steps GROUP BY gap) s
                  ON (t.rowid + 1) > s.gap
                ORDER BY __row
                """,
                numbered=numbered,
                rej=rej,
                table=table,
            ),
        )
        return Opened(Source(numbered, label, row_sql="r.__row", malformed=malformed), cols)

    # --- Parquet --------------------------------------------------------------------------------
    def _open_parquet(self, path: Path, null_values: tuple[str, ...]) -> Opened:
        """Scan the file in place, typed: text columns get the null tokens, timestamp columns
        are converted straight to naive UTC (no text round trip), the rest is cast to text
        (lists and structs as JSON) where it is used. One file scanned in order: rows are
        numbered by scan position, which is the file's row number (no column carries it)."""
        label = file_label(path)
        p = Params("s")
        call = f"read_parquet({p.add(str(path))})"
        try:
            described = self.con.execute(
                render("DESCRIBE SELECT * FROM {call}", call=call), p.used_in(call)
            ).fetchall()
        except duckdb.Error as exc:
            raise _bad(path, f"unreadable file: {_first_line(str(exc))}") from exc
        tokens = [p.add(v) for v in ("", *null_values)]
        zone = p.add(self.tz)
        cols: list[tuple[str, str]] = []
        text: dict[str, str] = {}
        native: dict[str, str] = {}
        for name_, typ_, *_ in described:
            name, typ = str(name_), str(typ_)
            cols.append((name, name.strip() or name))
            col = f"r.{ident(name)}"
            if typ == "VARCHAR":
                txt = col
            elif typ.endswith("]") or typ.startswith(("STRUCT", "MAP", "UNION")) or typ == "JSON":
                txt = f"CAST(to_json({col}) AS VARCHAR)"
            else:
                txt = f"CAST({col} AS VARCHAR)"
            nulls = " OR ".join(f"{txt} = {t}" for t in tokens)
            text[name] = f"CASE WHEN {nulls} THEN NULL ELSE {txt} END"
            if typ in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
                native[name] = "make_timestamp(epoch_us({}))"
            elif typ.startswith("TIMESTAMP") or typ == "DATE":
                naive = "CAST({} AS TIMESTAMP)"
                native[name] = (
                    naive if self.tz == "UTC"
                    else f"make_timestamp(epoch_us(timezone({zone}, {naive})))"
                )
        if not cols:
            raise _bad(path, "unreadable file: no columns")
        return Opened(Source(call, label, p), cols, text=text, native=native)

    def _load_parquet(self, path: Path, table: str, null_values: tuple[str, ...]) -> Opened:
        label = file_label(path)
        src = f"{table}_src"
        p = Params()
        try:
            run(self.con, f"DROP TABLE IF EXISTS {src}")
            run(
                self.con,
                render(
                    "CREATE TEMP TABLE {t} AS SELECT * FROM read_parquet({path}, file_row_number = true)",
                    t=src,
                    path=p.add(str(path)),
                ),
                p,
            )
        except duckdb.Error as exc:
            raise _bad(path, f"unreadable file: {_first_line(str(exc))}") from exc
        described = self.con.execute(f"DESCRIBE {src}").fetchall()
        cols = [(str(r[0]), str(r[1])) for r in described if r[0] != "file_row_number"]
        return self._to_text(src, table, label, cols, "file_row_number + 1", null_values)

    # --- JSON Lines -------------------------------------------------------------------------------
    def _load_jsonl(self, path: Path, table: str, null_values: tuple[str, ...]) -> Opened:
        label = file_label(path)
        objs = f"{table}_obj"
        p = Params()
        try:
            run(self.con, f"DROP TABLE IF EXISTS {objs}")
            run(
                self.con,
                render(
                    "CREATE TEMP TABLE {t} AS SELECT json FROM read_json_objects({path}, format = 'auto')",
                    t=objs,
                    path=p.add(str(path)),
                ),
                p,
            )
        except duckdb.Error as exc:
            raise _bad(path, f"unreadable file: {_first_line(str(exc))}") from exc
        keys = [
            str(r[0])
            for r in self.con.execute(
                render(
                    """
                    SELECT k FROM (
                        SELECT unnest(json_keys(json)) AS k, rowid AS r FROM {objs}
                        WHERE json_type(json) = 'OBJECT')
                    GROUP BY k ORDER BY min(r), k
                    """,
                    objs=objs,
                )
            ).fetchall()
        ]
        q = Params()
        sel = [
            f"json_extract_string(json, {q.add('/' + k.replace('~', '~0').replace('/', '~1'))}) AS {ident(k)}"
            for k in keys
        ]
        src = f"{table}_src"
        run(self.con, f"DROP TABLE IF EXISTS {src}")
        run(
            self.con,
            render(
                "CREATE TEMP TABLE {t} AS SELECT rowid + 1 AS __row{cols} FROM {objs}",
                t=src,
                cols="".join(", " + s for s in sel),
                objs=objs,
            ),
            q,
        )
        return self._to_text(
            src, table, label, [(k, "VARCHAR") for k in keys], "__row", null_values
        )

    def _to_text(
        self,
        src: str,
        table: str,
        label: str,
        cols: list[tuple[str, str]],
        row_expr: str,
        null_values: tuple[str, ...],
    ) -> Opened:
        """Copy ``src`` into ``table`` with every column as text (lists/structs as JSON)."""
        p = Params()
        nulls = p.add(["", *null_values])
        sel = []
        for name, typ in cols:
            col = ident(name)
            if typ.endswith("[]") or typ.startswith(("STRUCT", "MAP", "UNION")) or typ == "JSON":
                txt = f"CAST(to_json({col}) AS VARCHAR)"
            else:
                txt = f"CAST({col} AS VARCHAR)"
            sel.append(f"CASE WHEN list_contains({nulls}, {txt}) THEN NULL ELSE {txt} END AS {col}")
        run(self.con, f"DROP TABLE IF EXISTS {table}")
        run(
            self.con,
            render(
                "CREATE TEMP TABLE {t} AS SELECT {row} AS __row{cols} FROM {src}",
                t=table,
                row=row_expr,
                cols="".join(", " + s for s in sel),
                src=src,
            ),
            p,
        )
        return Opened(
            Source(table, label, row_sql="r.__row"), [(c, c.strip() or c) for c, _ in cols]
        )


def _csv_options(p: Params, delim: str, null_values: tuple[str, ...]) -> str:
    return ", ".join(
        [
            "header = true",
            "all_varchar = true",
            f"delim = {p.add(delim)}",
            "quote = '\"'",
            "escape = '\"'",
            "comment = ''",  # never drop lines that start with '#'
            "skip = 0",
            f"nullstr = {p.add(['', *null_values])}",
        ]
    )


def _first_line(msg: str) -> str:
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    keep = [ln for ln in lines[:3] if not ln.startswith("Possible")]
    return " ".join(keep) if keep else msg
