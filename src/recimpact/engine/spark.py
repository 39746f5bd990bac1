"""The distributed engine: the same load and attribution as DuckDB's, run by Apache Spark (PySpark).

Values mean what they mean on DuckDB (the conformance suite in tests/conformance runs both on the same inputs):
every CSV cell is read as text and typed by one SQL expression per column (``engine.rules``, rendered for Spark SQL);
the attribution is plan.py's SQL, rendered with Spark's identifier quoting. No Python runs on executors
(no UDFs), so a cluster needs nothing but Spark and a filesystem it shares with the server.

Values are held to ``engine.rules``, the SQL both engines share. Errors take two steps. Spark finds *that* a value
is bad on one pass (``raise_error``, as DuckDB's ``error()``), but its CSV reader cannot say on which line; the
driver then reads the files from the start with the same rules in Python (``engine.lines``, DuckDB's slow path too)
and names the first bad line and column. That slow path runs only when a job fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import regex

from recimpact.domain.schema import Column
from recimpact.engine import lines
from recimpact.engine.base import DataError, InputFile, LoadResult
from recimpact.engine.plan import AttributionQuery, backtick_quote
from recimpact.engine.rules import SPARK, ColumnRule, column_rules, spark_literal, typed_sql

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
_SPECIAL_IN_PATH = regex.compile(r"[\[\]*?{}:\\]")
_REPLACEMENT = "\ufffd"  # what Spark's reader makes of bytes that are not UTF-8
_literal = spark_literal


def _bad(kind: str) -> str:
    return f"raise_error(concat({_literal(_BAD)}, CAST({_FILE} AS STRING), {_literal(':' + kind)}))"


def _suspect(text: str) -> str:
    """Spark's reader turns bytes that are not UTF-8 into U+FFFD, and keeps a badly quoted field ("a"b) as its
    raw text, where DuckDB fails: such values send the files to the driver's exact check."""
    return f"(instr({text}, {_literal(_REPLACEMENT)}) > 0 OR substr({text}, 1, 1) = '\"')"


def _typed(rule: ColumnRule, suspicious: bool) -> str:
    """The column as loaded, in its SQL type; a refused value raises (see _bad)."""
    suspect = _suspect if suspicious and rule.column.type == "string" else None
    return typed_sql(rule, SPARK, backtick_quote(rule.name), _bad("value"), suspect)


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

    def _typed_rows(
        self, files: Sequence[InputFile], rules: Mapping[str, ColumnRule], exact: bool
    ) -> DataFrame:
        """Typed, checked rows; ``exact``: files read whole, and nothing left to the driver's check."""
        frames = [self._read(f, i, exact) for i, f in enumerate(files)]
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame, allowMissingColumns=True)
        expressions = [_typed(rule, suspicious=not exact) for rule in rules.values()]
        # A line with the wrong number of values: the reader keeps it whole in the corrupt-record column.
        return union.selectExpr(
            _FILE, f"CASE WHEN {_CORRUPT} IS NOT NULL THEN {_bad('shape')} END AS {_CORRUPT}", *expressions
        )

    def load(
        self,
        files: Sequence[InputFile],
        schema_columns: Sequence[Column],
        dest: Path,
        dataset_type: str | None = None,
    ) -> LoadResult:
        present = {c.name.upper() for f in files for c in f.columns}
        rules = column_rules([c for c in schema_columns if c.name.upper() in present], dataset_type)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        staging = self._temp_dir / f"inputs-{uuid.uuid4().hex}"
        with self._lock:
            try:
                files = self._staged(files, staging)
                if self._write_distinct(files, rules, tmp, exact=False) is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                    found = lines.check(files, rules)
                    if found.reason is not None:
                        raise DataError(found.reason)
                    # Nothing is wrong: lines are split across tasks (a large file is read in parallel), which a
                    # quoted value spanning lines defeats. The load runs again reading whole files (one task per
                    # file); Spark's whole-file reader takes the first line's ending for every line, so a file
                    # with \r in its line ends is read as written again with \n alone.
                    whole = [
                        lines.normalized(f, staging) if i in found.irregular else f
                        for i, f in enumerate(files)
                    ]
                    failure = self._write_distinct(whole, rules, tmp, exact=True)
                    if failure is not None:
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
        self, files: Sequence[InputFile], rules: Mapping[str, ColumnRule], tmp: Path, exact: bool
    ) -> int | None:
        """Write the distinct typed rows as a folder of Parquet files; the index of the file a bad value was found
        in, or None when every value was good."""
        from pyspark.errors import PySparkException

        checked = self._typed_rows(files, rules, exact)
        # The check columns must survive to the write (an unused column would be pruned, and its check with it):
        # they are always NULL when the row is good, so deduplicating with them changes nothing.
        rows = checked.drop(_FILE).distinct().drop(_CORRUPT).select(*[backtick_quote(n) for n in rules])
        try:
            rows.write.mode("errorifexists").parquet(str(tmp))
        except PySparkException as exc:
            text = str(exc)
            marker = text.find(_BAD)
            if marker < 0:
                raise
            return int(text[marker + len(_BAD) :].split(":", 1)[0])
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
