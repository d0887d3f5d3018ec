"""The optional PostgreSQL copy of the record, with a real PostgreSQL from Debian started by the
test: the site names the server and the Secret its password; the supervisor (the pod's
entrypoint) renders cel_pgsql, and Asterisk writes every call's events there as well as to the
SQLite record the history reads."""

from __future__ import annotations

import json

import pytest

from lab import netns, sipp
from lab.asterisk import RunDir, wait_until
from lab.fixtures import Started
from lab.k8s import build, dashboards
from lab.netns import Lab
from lab.postgres import Postgres
from lab.supervisor import SupervisorRun, read_dir
from tests.supervisor.records.test_records_pod_lab import EXAMPLE, site

pytestmark = pytest.mark.lab


def recent_calls_sql() -> str:
    (dashboard,) = dashboards(build())
    (panel,) = [p for p in dashboard["panels"] if p["title"] == "Recent calls"]
    return str(panel["targets"][0]["rawSql"])


def test_calls_reach_postgresql_too(lab: Lab, run_dir: RunDir, started: Started) -> None:
    """Two answered doorbell calls: PostgreSQL holds both calls' events (two LINKEDID_END, the
    caller and the extension) and the Grafana recent-calls table's SQL lists them; the SQLite
    history has both calls; cel_pgsql.conf (it holds the password) is not readable by others."""
    pg = Postgres(lab).start()
    started.add(pg.close)
    secrets = read_dir(EXAMPLE / "secrets") | {"pg-password": pg.password + "\n"}
    files = site()
    files["site.yaml"] += (
        f"\nrecords:\n  postgresql:\n    host: {pg.address}\n    port: {pg.port}\n"
        "    password_secret: pg-password\n"
    )
    registrar = sipp.registrar(
        lab, run_dir, netns.PROVIDER_V6, "pod1", secrets["provider-password"].strip()
    )
    started.add(registrar.stop)
    sup = SupervisorRun(lab, run_dir, files, secrets)
    started.add(sup.stop)
    sup.start().wait_ready(40)
    conf = run_dir.path("etc") / "cel_pgsql.conf"
    assert conf.stat().st_mode & 0o007 == 0
    call = sipp.call(
        lab,
        run_dir,
        "doorbell",
        netns.DOORBELL_V4,
        f"{netns.POD_V4}:5060",
        "100",
        calls=2,
        hold_ms=300,
    )
    started.add(call.stop)
    assert call.wait(40) == 0, call.output()[-1500:]
    query = "SELECT count(*) FROM cel WHERE eventtype = 'LINKEDID_END'"
    wait_until(lambda: pg.sql(query).strip() == "2", 10, what="two calls in PostgreSQL")
    starts = pg.sql(
        "SELECT cid_num, exten FROM cel WHERE eventtype = 'CHAN_START' AND uniqueid = linkedid"
    ).split()
    assert starts == ["sipp|100", "sipp|100"]
    # The Grafana dashboard's recent-calls table, its SQL run on this server.
    table = [
        row.split("|")
        for row in pg.sql(
            recent_calls_sql().replace("$__timeFilter(eventtime)", "true")
        ).splitlines()
    ]
    assert [r[1:4] for r in table] == [["sipp", "100", "answered"]] * 2

    def history() -> int:
        status, body = sup.get("/calls")
        assert status == 200
        return len(json.loads(body)["calls"])

    wait_until(lambda: history() == 2, 10, what="two calls in the SQLite history")
