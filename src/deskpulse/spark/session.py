"""Getting a SparkSession for the build: local, standalone, YARN/K8s or Spark Connect.

pyspark is an optional extra (``pip install 'deskpulse[spark]'``) and a classic session
needs Java 17 or 21; when either is missing the caller gets a
:class:`~deskpulse.errors.ComponentMissingError` (exit 6) that says how to install it.
An active session (``spark-submit``, a Databricks notebook) is reused as it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from typing import Any

from deskpulse.errors import ComponentMissingError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install the Spark extra with `pip install 'deskpulse[spark]'` "
    "(pyspark; a local or standalone master also needs Java 17 or 21: `apt-get install openjdk-17-jre-headless` "
    "or set JAVA_HOME; for a Spark Connect master sc://host:port, `pip install 'deskpulse[spark-connect]'` "
    "and no Java)"
)

CONNECT_HINT = (
    "a Spark Connect master (sc://host:port) needs the client libraries: "
    "`pip install 'deskpulse[spark-connect]'` (that is pyspark[connect]==4.0.1: grpcio, grpcio-status, "
    "googleapis-common-protos); no Java is needed on the client"
)

#: Seconds to wait for a Spark Connect server's port before giving up (pyspark's own client
#: would retry for minutes, with nothing said, when the server is down or the address wrong).
CONNECT_PROBE_TIMEOUT_S = 10.0

#: Session settings the build relies on: UTC session time, string partition values.
REQUIRED_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}

#: Defaults for a session deskpulse starts itself (small machines; override with conf).
DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def require_pyspark() -> Any:
    """Import pyspark or raise ComponentMissingError with the install hint."""
    try:
        import pyspark
    except ImportError as exc:
        raise ComponentMissingError(f"Spark is not installed: {INSTALL_HINT}") from exc
    return pyspark


def java_home() -> str | None:
    """The Java installation a classic session would use, or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return home
    java = shutil.which("java")
    if java:
        return os.path.dirname(os.path.dirname(os.path.realpath(java)))
    return None


def spark_session(
    master: str = "local[*]", *, app_name: str = "deskpulse-build", conf: Mapping[str, str] | None = None
) -> Any:
    """A SparkSession for ``master``: ``local[N]``, ``spark://host:7077``, ``yarn``,
    ``k8s://…`` or Spark Connect ``sc://host:15002``. Reuses the active session if any."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        _apply_required(active)
        return active
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit: its settings win
    settings = {**({} if submitted else DEFAULT_CONF), **REQUIRED_CONF, **dict(conf or {})}
    if master.startswith("sc://"):
        try:
            from pyspark.sql.connect.utils import check_dependencies

            check_dependencies(__name__)
        except ImportError as exc:  # grpcio & co. are missing
            raise ComponentMissingError(f"the Spark Connect client is not installed ({exc}): {CONNECT_HINT}") from exc
        _probe_connect(master)
        builder = SparkSession.builder.remote(master).appName(app_name)
        try:
            session = builder.getOrCreate()
        except ImportError as exc:  # pyspark's PySparkImportError: grpcio & co. are missing
            raise ComponentMissingError(
                f"the Spark Connect client is not installed ({exc}): {CONNECT_HINT}") from exc
        except Exception as exc:  # connect errors come in many types
            raise ComponentMissingError(f"cannot reach Spark Connect at {master}: {exc}") from exc
        _apply_required(session)
        return session
    if not submitted and java_home() is None:
        raise ComponentMissingError(f"Java is not installed: {INSTALL_HINT}")
    builder = SparkSession.builder.appName(app_name)
    if not submitted:
        # Python workers run this interpreter (it has deskpulse and pyarrow) unless
        # PYSPARK_PYTHON says otherwise (a cluster whose nodes keep it elsewhere).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # JVM start or master connection failures
        raise ComponentMissingError(f"cannot start Spark with master {master}: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    log.info("spark: session on %s (Spark %s)", master, session.version)
    return session


def connect_address(master: str) -> tuple[str, int]:
    """Host and port of a Spark Connect URL ``sc://host[:port][/;param=value…]`` (port
    15002 when absent, as in pyspark)."""
    rest = master[len("sc://"):].split("/", 1)[0].split(";", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or "]" in port:  # no port (an IPv6 host keeps its colons inside brackets)
        host, port = rest, "15002"
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ComponentMissingError(f"not a Spark Connect URL: {master} (expected sc://host:port)")
    return host, int(port)


def _probe_connect(master: str) -> None:
    """Fail fast, naming the address, when nothing listens at the Spark Connect server's port."""
    host, port = connect_address(master)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ComponentMissingError(
            f"cannot reach Spark Connect at {master} ({host}:{port}: {exc}); is the server running "
            "(`sbin/start-connect-server.sh` or your platform's Connect endpoint)?") from exc


def _apply_required(session: Any) -> None:
    for key, value in REQUIRED_CONF.items():
        try:
            session.conf.set(key, value)
        except Exception:  # some are static on managed platforms; they default right there
            log.debug("spark: cannot set %s", key)
