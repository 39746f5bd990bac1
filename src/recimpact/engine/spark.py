"""The distributed engine: the same load and attribution as DuckDB's, run by Apache Spark (PySpark).

Values mean what they mean on DuckDB (the conformance suite in tests/conformance runs both on the same inputs):
every CSV cell is read as text and typed by one SQL expression per column that accepts exactly what DuckDB's reader
accepts; the attribution is plan.py's SQL, rendered with Spark's identifier quoting. No Python runs on executors
(no UDFs), so a cluster needs nothing but Spark and a filesystem it shares with the server.

Errors take two steps. Spark finds *that* a value is bad on one pass (``raise_error``, as DuckDB's ``error()``), but
its CSV reader cannot say on which line; the driver then reads the file the failing task named, from the start,
with the same rules, and names the first bad line and column. That slow path runs only when a job fails.
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import regex

from recimpact.domain.schema import Column
from recimpact.engine.base import AVRO_TO_SQL, DataError, InputFile, LoadResult
from recimpact.engine.plan import AttributionQuery, backtick_quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The driver only plans, collects small results and reads a failing file: a modest heap is enough. Executors (in a
# cluster) get their memory from the cluster's own configuration.
DRIVER_MEMORY = "1g"
_FILE = "__recimpact_file"
_CORRUPT = "__recimpact_corrupt"
_BAD = (
    "recimpact-bad-input:"  # raise_error's message: the marker, then the file's index and what looked wrong
)

# What DuckDB's CSV reader accepts, written once for Spark's SQL (Java regex) and for the driver's slow path.
# Integers (read as text by both engines, see duckdb._read_type): RE2's \s, which lacks \v.
_INTEGER_SPACE = r"[ \t\n\f\r]"
INTEGER_TEXT = rf"{_INTEGER_SPACE}*[+-]?[0-9]+{_INTEGER_SPACE}*"
# Doubles: digits may be grouped with single underscores (1_000.5); inf, infinity and nan in any case; C's isspace.
_DOUBLE_SPACE = r"[ \t\n\x0B\f\r]"
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_NUMBER = rf"(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
DOUBLE_TEXT = rf"{_DOUBLE_SPACE}*[+-]?(?:(?i:inf|infinity|nan)|{_NUMBER}){_DOUBLE_SPACE}*"
BOOLEAN_WORDS = {"true": True, "t": True, "yes": True, "y": True, "1": True}
BOOLEAN_WORDS |= {"false": False, "f": False, "no": False, "n": False, "0": False}
_INTEGER_RANGE = {"int": 1 << 31, "long": 1 << 63}
_INTEGER_TYPES = ("int", "long")
_FLOAT_TYPES = ("float", "double")
_SPECIAL_IN_PATH = regex.compile(r"[\[\]*?{}:\\]")
_REPLACEMENT = "\ufffd"  # what Spark's reader makes of bytes that are not UTF-8


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes are on by default)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bad(kind: str) -> str:
    return f"raise_error(concat({_literal(_BAD)}, CAST({_FILE} AS STRING), {_literal(':' + kind)}))"


def _typed(column: Column, suspicious: bool) -> str:
    """The column as loaded, in its SQL type; a value DuckDB would refuse raises (see _bad)."""
    name = backtick_quote(column.name.upper())
    text = f"NULLIF({name}, '')"  # empty and quoted-empty cells are no value, as in DuckDB
    if column.type in _INTEGER_TYPES:
        sql_type = AVRO_TO_SQL[column.type]
        digits = f"regexp_replace({text}, {_literal(_INTEGER_SPACE)}, '')"
        value = (
            f"CASE WHEN {text} RLIKE {_literal('^' + INTEGER_TEXT + '$')}"
            f" AND try_cast({digits} AS {sql_type}) IS NOT NULL"
            f" THEN CAST({digits} AS {sql_type}) ELSE {_bad('value')} END"
        )
    elif column.type in _FLOAT_TYPES:
        bare = f"lower(regexp_replace({text}, {_literal(_DOUBLE_SPACE + '|_')}, ''))"
        value = (
            f"CASE WHEN NOT {text} RLIKE {_literal('^' + DOUBLE_TEXT + '$')} THEN {_bad('value')}"
            f" WHEN {bare} IN ('nan', '+nan', '-nan') THEN CAST('NaN' AS DOUBLE)"
            f" WHEN {bare} IN ('inf', '+inf', 'infinity', '+infinity') THEN CAST('Infinity' AS DOUBLE)"
            f" WHEN {bare} IN ('-inf', '-infinity') THEN CAST('-Infinity' AS DOUBLE)"
            f" ELSE CAST({bare} AS DOUBLE) END"
        )
    elif column.type == "boolean":
        words = {True: [], False: []}  # type: dict[bool, list[str]]
        for word, meaning in BOOLEAN_WORDS.items():
            words[meaning].append(_literal(word))
        value = (
            f"CASE WHEN lower({text}) IN ({', '.join(words[True])}) THEN true"
            f" WHEN lower({text}) IN ({', '.join(words[False])}) THEN false ELSE {_bad('value')} END"
        )
    else:
        value = text
        if suspicious:
            # Spark's reader turns bytes that are not UTF-8 into U+FFFD, and keeps a badly quoted field ("a"b) as
            # its raw text, where DuckDB fails: such values send the file to the driver's exact check.
            suspect = f"instr({text}, {_literal(_REPLACEMENT)}) > 0 OR substr({text}, 1, 1) = '\"'"
            value = f"CASE WHEN {suspect} THEN {_bad('suspect')} ELSE {text} END"
    missing = _bad("value") if not column.nullable else "NULL"
    return f"CASE WHEN {text} IS NULL THEN {missing} ELSE {value} END AS {name}"


def _valid(column: Column, text: str) -> bool:
    """The driver's copy of _typed's rule for one non-empty cell."""
    if column.type in _INTEGER_TYPES:
        if not regex.fullmatch(INTEGER_TEXT, text):
            return False
        limit = _INTEGER_RANGE[column.type]
        return -limit <= int(regex.sub(_INTEGER_SPACE, "", text)) < limit
    if column.type in _FLOAT_TYPES:
        return regex.fullmatch(DOUBLE_TEXT, text) is not None
    if column.type == "boolean":
        return text.lower() in BOOLEAN_WORDS
    return True


class _Undecodable(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _decoded_lines(path: Path) -> Iterator[str]:
    """The file's physical lines as text (a byte-order mark dropped); raises _Undecodable at the first line that
    is not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise _Undecodable(number) from None


def first_bad_value(file: InputFile) -> str | None:
    """The slow path, taken only on failure: the first line of ``file`` that DuckDB would refuse, named as DuckDB's
    engine names it (file, line, column, reason); None when every line is good."""
    width = len(file.columns)
    lines = _decoded_lines(file.path)
    reader = csv.reader(lines, strict=True)  # a quote must close a field, as DuckDB requires
    try:
        next(reader, None)  # the header, checked when the job mapped it onto the schema
        for row in reader:
            if not row:
                continue  # blank lines are skipped by both readers
            where = f"{file.name}: line {reader.line_num}"
            if len(row) != width:
                return f"{where}: wrong number of values: expected {width}, found {len(row)}"
            for column, text in zip(file.columns, row, strict=True):
                name = column.name.upper()
                if text == "":
                    if not column.nullable:
                        return f"{where}, column {name}: a value is required"
                elif not _valid(column, text):
                    return f"{where}, column {name}: {text!r} is not a valid {column.type}"
    except _Undecodable as exc:
        return f"{file.name}: line {exc.line}: the file is not UTF-8 encoded"
    except csv.Error as exc:
        return f"{file.name}: line {reader.line_num}: malformed quoting ({exc})"
    return None


def _quiet_logging(folder: Path) -> Path:
    """A log4j2 configuration that keeps Spark to errors of its own: a bad value is reported as the job's failure
    reason, not as executor stack traces in the server's output."""
    path = folder / "log4j2.properties"
    path.write_text(
        "rootLogger.level = error\n"
        "rootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n"
        # Tasks failing on raise_error are how bad input is detected; they are not the server's errors.
        "logger.executor.name = org.apache.spark.executor.Executor\n"
        "logger.executor.level = off\n"
        "logger.tasks.name = org.apache.spark.scheduler.TaskSetManager\n"
        "logger.tasks.level = off\n"
        "logger.native.name = org.apache.hadoop.util.NativeCodeLoader\n"
        "logger.native.level = off\n"
        "logger.utils.name = org.apache.spark.util.Utils\n"
        "logger.utils.level = off\n"
        # PySpark starts Spark as a shell, whose logger would set (and announce) its own level.
        "logger.repl.name = org.apache.spark.api.python.PythonGatewayServer\n"
        "logger.repl.level = error\n"
    )
    return path


class SparkEngine:
    name = "spark"

    def __init__(self, temp_dir: Path, master: str = "local[*]", driver_memory: str = DRIVER_MEMORY) -> None:
        # Fail at selection, with a reason the job can show, when Spark cannot run here at all.
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            raise RuntimeError("Java (17 or later) is not installed: Spark needs it")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyspark warns about pandas versions it does not use here
            try:
                import pyspark  # noqa: F401  (is the optional extra installed?)
            except ImportError:
                raise RuntimeError("PySpark is not installed: pip install 'recimpact[spark]'") from None
        temp_dir.mkdir(parents=True, exist_ok=True)
        self._temp_dir = temp_dir
        self._master = master
        self._driver_memory = driver_memory
        self._lock = threading.RLock()  # jobs are serialized; the temp views below are per session

    @functools.cached_property
    def session(self) -> SparkSession:
        """Started on first use (a JVM takes seconds), then kept for every later job."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pyspark.sql import SparkSession

        spark_dir = self._temp_dir / "spark"
        spark_dir.mkdir(parents=True, exist_ok=True)
        java_options = f"-Dlog4j2.configurationFile={_quiet_logging(spark_dir).as_uri()}"
        builder = (
            SparkSession.builder.master(self._master)
            .appName("recimpact")
            .config("spark.driver.memory", self._driver_memory)
            .config("spark.driver.extraJavaOptions", java_options)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "true")  # overflow is an error, as on DuckDB
            # Spark's _SUCCESS marker would be one more file in every stored part.
            .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
            .config("spark.sql.parquet.compression.codec", "snappy")
        )
        if self._master.startswith("local"):
            # On one machine, 200 shuffle partitions are 200 tiny tasks per aggregate; adaptive execution
            # coalesces further. Shuffle files go inside the data dir. A cluster keeps its own settings.
            builder = builder.config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 2)))
            builder = builder.config("spark.local.dir", str(spark_dir / "local"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                session = builder.getOrCreate()
            except Exception as exc:
                # An unreachable master gives up after Spark's own retries (about a minute); the context it
                # leaves behind is stopped, so that the next job tries afresh.
                from pyspark import SparkContext, __version__

                active = SparkContext._active_spark_context
                if active is not None:
                    active.stop()
                java = getattr(exc, "java_exception", None)
                reason = str(java.toString()) if java is not None else str(exc).split("\n", 1)[0]
                raise RuntimeError(
                    f"Spark did not start with master {self._master} (is it reachable, and does it run Spark"
                    f" {__version__}?): {reason}"
                ) from None
        session.sparkContext.setLogLevel("ERROR")
        return session

    def progress(self) -> float | None:
        """Completed tasks over all tasks of the stages running now."""
        if "session" not in self.__dict__:
            return None
        tracker = self.session.sparkContext.statusTracker()
        done = total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
        return done / total if total else None

    # --- load ------------------------------------------------------------------------------------------------------

    def _read(self, file: InputFile, index: int, whole_files: bool) -> DataFrame:
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        names = [c.name.upper() for c in file.columns]
        schema = StructType([StructField(n, StringType()) for n in [*names, _CORRUPT]])
        frame = (
            self.session.read.schema(schema)
            .option("header", "true")
            .option("enforceSchema", "true")  # the job already mapped the header onto the schema
            .option("quote", '"')
            .option("escape", '"')  # RFC 4180 doubled quotes, as DuckDB (Spark's default is a backslash)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", _CORRUPT)
            .option("multiLine", "true" if whole_files else "false")
            .option("encoding", "UTF-8")
            .csv(str(file.path))
        )
        return frame.select(F.lit(index).alias(_FILE), *[F.col(n) for n in [*names, _CORRUPT]])

    def _staged(self, files: Sequence[InputFile], staging: Path) -> list[InputFile]:
        """The files under names Spark reads literally: Hadoop takes ``[``, ``*``, ``?`` and ``{`` in a path for a
        pattern and ``:`` for a URI scheme, so such a file is read through a link with a plain name (messages
        still name the file as the user did)."""
        staged = []
        for index, file in enumerate(files):
            if _SPECIAL_IN_PATH.search(str(file.path)):
                staging.mkdir(parents=True, exist_ok=True)
                link = staging / f"{index}.csv"
                link.symlink_to(file.path.resolve())
                file = InputFile(path=link, name=file.name, columns=file.columns)
            staged.append(file)
        return staged

    def _typed_rows(self, files: Sequence[InputFile], ordered: Sequence[Column], exact: bool) -> DataFrame:
        """Typed, checked rows; ``exact``: files read whole, and nothing left to the driver's check."""
        frames = [self._read(f, i, exact) for i, f in enumerate(files)]
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame, allowMissingColumns=True)
        expressions = [_typed(c, suspicious=not exact) for c in ordered]
        # A line with the wrong number of values: the reader keeps it whole in the corrupt-record column.
        return union.selectExpr(
            _FILE, f"CASE WHEN {_CORRUPT} IS NOT NULL THEN {_bad('shape')} END AS {_CORRUPT}", *expressions
        )

    def load(self, files: Sequence[InputFile], schema_columns: Sequence[Column], dest: Path) -> LoadResult:
        present = {c.name.upper() for f in files for c in f.columns}
        ordered = [c for c in schema_columns if c.name.upper() in present]
        names = [c.name.upper() for c in ordered]
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        staging = self._temp_dir / f"inputs-{uuid.uuid4().hex}"
        with self._lock:
            try:
                files = self._staged(files, staging)
                # Lines are split across tasks (a large file is read in parallel), which a quoted value spanning
                # lines defeats; such a file fails the fast pass, the driver finds nothing wrong with it, and the
                # load runs again reading whole files (exact, one task per file).
                for exact in (False, True):
                    failure = self._write_distinct(files, ordered, names, tmp, exact)
                    if failure is None:
                        break
                    shutil.rmtree(tmp, ignore_errors=True)
                    reason = self._locate(files, failure)
                    if reason is not None:
                        raise DataError(reason)
                    if exact:
                        raise DataError(f"{files[failure].name}: a value could not be read")
                rows = self.session.read.parquet(str(tmp)).count()
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        tmp.replace(dest)
        return LoadResult(rows=int(rows), columns=frozenset(present))

    def _write_distinct(
        self,
        files: Sequence[InputFile],
        ordered: Sequence[Column],
        names: Sequence[str],
        tmp: Path,
        exact: bool,
    ) -> int | None:
        """Write the distinct typed rows as a folder of Parquet files; the index of the file a bad value was found
        in, or None when every value was good."""
        from pyspark.errors import PySparkException

        checked = self._typed_rows(files, ordered, exact)
        # The check columns must survive to the write (an unused column would be pruned, and its check with it):
        # they are always NULL when the row is good, so deduplicating with them changes nothing.
        rows = checked.drop(_FILE).distinct().drop(_CORRUPT).select(*[backtick_quote(n) for n in names])
        try:
            rows.write.mode("errorifexists").parquet(str(tmp))
        except PySparkException as exc:
            text = str(exc)
            marker = text.find(_BAD)
            if marker < 0:
                raise
            return int(text[marker + len(_BAD) :].split(":", 1)[0])
        return None

    @staticmethod
    def _locate(files: Sequence[InputFile], hint: int) -> str | None:
        """The first bad value, in the file a task failed on first, then in the others in order."""
        order = [hint, *(i for i in range(len(files)) if i != hint)]
        for index in order:
            reason = first_bad_value(files[index])
            if reason is not None:
                return reason
        return None

    # --- reading stored parts and attributing -----------------------------------------------------------------------

    def _parquet(self, paths: Sequence[Path]) -> DataFrame:
        return self.session.read.option("mergeSchema", "true").parquet(*[str(p) for p in paths])

    def distinct(self, parquet: Sequence[Path], column: str) -> list[str]:
        from pyspark.sql import functions as F

        with self._lock:
            values = (
                self._parquet(parquet)
                .where(F.col(column).isNotNull() & (F.trim(F.col(column)) != ""))
                .select(column)
                .distinct()
                .collect()
            )
        return [str(row[0]) for row in values]

    def rows(self, parquet: Path) -> list[dict[str, Any]]:
        with self._lock:
            return [row.asDict() for row in self._parquet([parquet]).toLocalIterator()]

    def _csv(self, path: Path | None, columns: dict[str, str]) -> DataFrame:
        """A lookup CSV the job wrote (items, recommendations): small, so read whole (values may span lines)."""
        schema = ", ".join(f"{backtick_quote(c)} {t}" for c, t in columns.items())
        if path is None:
            return self.session.createDataFrame([], schema)
        return (
            self.session.read.schema(schema)
            .option("header", "true")
            .option("escape", '"')
            .option("multiLine", "true")
            .option("mode", "FAILFAST")
            .csv(str(path))
        )

    def _bind(
        self,
        query: AttributionQuery,
        interactions: Sequence[Path],
        items_csv: Path | None,
        recommendations_csv: Path | None,
    ) -> None:
        """The plan's four relations, as this session's temporary views."""
        self._parquet(interactions).createOrReplaceTempView("interactions")
        metrics = [(i, m.event_type) for i, m in enumerate(query.metrics)]
        self.session.createDataFrame(metrics, "IDX INT, ET STRING").createOrReplaceTempView("metrics")
        if query.needs_items:
            columns = {"ITEM_ID": "STRING", **dict.fromkeys(query.item_columns(), "DOUBLE")}
            self._csv(items_csv, columns).createOrReplaceTempView("items")
        if query.needs_recommendations:
            columns = {"RECOMMENDATION_ID": "STRING", "SOURCE": "STRING"}
            self._csv(recommendations_csv, columns).createOrReplaceTempView("recommendations")

    def sources(
        self, query: AttributionQuery, interactions: Sequence[Path], recommendations_csv: Path | None
    ) -> list[str]:
        with self._lock:
            self._bind(query, interactions, None, recommendations_csv)
            found = self.session.sql(query.sources_sql(backtick_quote)).collect()
        return [str(row[0]) for row in found]

    def aggregate(
        self,
        query: AttributionQuery,
        interactions: Sequence[Path],
        items_csv: Path | None,
        recommendations_csv: Path | None,
    ) -> list[tuple[int, str, int, float]]:
        if not query.metrics or not interactions:
            return []
        with self._lock:
            self._bind(query, interactions, items_csv, recommendations_csv)
            found = self.session.sql(query.sql(backtick_quote)).collect()
        return [(int(i), str(s), int(w), float(v)) for i, s, w, v in found]

    def close(self) -> None:
        with self._lock:
            if "session" in self.__dict__:
                self.session.stop()
                del self.__dict__["session"]
