"""A Spark Connect client process for test_spark_connect: the golden SLA cases built over
``sc://`` with :func:`deskpulse.spark.build.run_build`, one tenant per case, each with its own
config and as_of, in one Spark job; the result tables are written as Arrow files for the test
to compare with the DuckDB build.

It runs in a process of its own because pyspark cannot hold a Connect session next to the
test session's classic one (``SESSION_ALREADY_EXIST``; connect mode is process-wide)::

    python -m tests.spark.connect_client sc://127.0.0.1:PORT GOLDEN.duckdb OUT_DIR

Prints one JSON line: the session's class, Spark version, whether a JVM was started here and
the server's task slots as the build sees them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.feather as feather

TABLES = ("ticket_metrics", "ticket_sla", "ticket_segments", "backlog_daily")


def main(argv: list[str]) -> int:
    url, store_path, out_dir = argv
    from pyspark import SparkContext

    from deskpulse.spark.build import default_parallelism, run_build
    from deskpulse.spark.jobs import read_store
    from deskpulse.spark.session import spark_session
    from deskpulse.store import open_store
    from tests.spark.conftest import golden_plans

    spark = spark_session(url, app_name="deskpulse-connect-golden")
    plans = golden_plans()
    slas = {name: sla for name, (sla, _) in plans.items()}
    as_ofs = {name: at for name, (_, at) in plans.items()}
    with open_store(store_path, migrate=False) as store:
        tickets, events = read_store(spark, store, list(plans), max(as_ofs.values()))
    result = run_build(tickets, events, slas, as_ofs)
    try:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            feather.write_feather(result.collect(name), str(out / f"{name}.arrow"))
        tenants = sorted(result.plans)
    finally:
        result.unpersist()
    info = {"session": f"{type(spark).__module__}.{type(spark).__name__}", "version": spark.version,
            "client_jvm": SparkContext._gateway is not None, "tenants": tenants,
            "slots": default_parallelism(spark)}
    spark.stop()
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
