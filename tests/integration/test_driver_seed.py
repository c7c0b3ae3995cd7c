"""The DataStax Python driver against a real node: the seed 001 schema
loaded with simulated readings and its "identify sensors with extreme
values" question answered in CQL; paging through 100,000 rows with the
driver's default fetch size; an Overloaded error surfacing as the driver's
own exception.

Default driver settings throughout (only the contact point's port given),
except where a test says otherwise.
"""
import datetime
import os
import random
import signal
import time
import uuid

import pytest
from cassandra import OperationTimedOut
from cassandra.cluster import (EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile,
                               NoHostAvailable)
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import FallthroughRetryPolicy
from cassandra.protocol import OverloadedErrorMessage
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from conftest import module_node

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def snode(tmp_path_factory):
    yield from module_node(tmp_path_factory, "driver_seed")


@pytest.fixture(scope="module")
def cluster(snode):
    c = Cluster(["127.0.0.1"], port=snode.cql_port)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    return cluster.connect()


# --- seed 001: sensors with extreme values --------------------------------

LOCATIONS = ["Berlin", "Lagos", "Lima", "Osaka"]
DEVICE_TYPES = ["thermostat", "weather_station", "hvac_unit"]
SENSORS_PER_PARTITION = 5
READINGS_PER_SENSOR = 60  # 4 * 3 * 5 * 60 = 3,600 rows
T0 = datetime.datetime(2025, 3, 1, tzinfo=datetime.timezone.utc)

# Planted extremes: (partition index, sensor index, reading index) ->
# temperature. Every value is exact in a 32-bit float. Normal readings lie
# in [15, 30).
HOT = {(0, 1, 10): 45.5, (4, 3, 59): 52.25, (11, 0, 0): 40.5}
COLD = {(2, 4, 30): -25.0, (7, 2, 7): -12.5}


def seed_schema():
    """The seed's CREATE KEYSPACE and CREATE TABLE, verbatim."""
    with open(os.path.join(HERE, "seed001.cql")) as f:
        text = f.read()
    stmts = [s.strip() for s in text.split(";") if s.strip()]
    assert len(stmts) == 2 and stmts[0].startswith("CREATE KEYSPACE")
    return stmts


def sensor_id(p, s):
    return uuid.UUID(int=(0x5EED0001 << 96) | (p << 16) | s, version=4)


def partitions():
    return [(loc, dt) for loc in LOCATIONS for dt in DEVICE_TYPES]


def readings():
    """Deterministic simulated readings: one row per (partition, sensor,
    reading), a reading a minute, plausible values from a seeded RNG."""
    rng = random.Random(1)
    rows = []
    for p, (loc, dt) in enumerate(partitions()):
        for s in range(SENSORS_PER_PARTITION):
            sid = sensor_id(p, s)
            for r in range(READINGS_PER_SENSOR):
                temp = HOT.get((p, s, r), COLD.get((p, s, r)))
                if temp is None:
                    temp = 15 + rng.randrange(0, 60) / 4  # 15.0 .. 29.75
                rows.append((loc, dt, sid, T0 + datetime.timedelta(minutes=r), temp,
                             round(rng.uniform(20, 80), 1), round(rng.uniform(990, 1030), 1),
                             rng.random() < 0.1, rng.randrange(0, 1000),
                             round(rng.uniform(0, 5), 2), {"co2": float(rng.randrange(400, 900))}))
    return rows


def planted(table):
    return {(partitions()[p][0], partitions()[p][1], sensor_id(p, s)): t
            for (p, s, _), t in table.items()}


def test_seed001_sensors_with_extreme_values(cluster, session):
    ks_stmt, table_stmt = seed_schema()
    session.execute(ks_stmt)
    session.execute("USE sensor_data_schema")
    session.execute(table_stmt)
    table = cluster.metadata.keyspaces["sensor_data_schema"].tables["iot_sensor_metrics"]
    assert [c.name for c in table.partition_key] == ["location", "device_type"]
    assert [c.name for c in table.clustering_key] == ["iot_sensor_id", "recorded_timestamp"]
    assert table.columns["other_metrics"].cql_type == "map<text, float>"

    ins = session.prepare(
        "INSERT INTO iot_sensor_metrics (location, device_type, iot_sensor_id, "
        "recorded_timestamp, temperature, humidity, pressure, motion_detected, light_level, "
        "gas_concentration, other_metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    assert ins.routing_key_indexes == [0, 1]
    rows = readings()
    res = execute_concurrent_with_args(session, ins, rows, concurrency=100)
    assert all(ok for ok, _ in res)
    assert session.execute("SELECT count(*) FROM iot_sensor_metrics").one()[0] == len(rows)

    # Per partition: each sensor's extremes, one row per sensor. (Cassandra
    # also accepts `GROUP BY iot_sensor_id` here, leaving out the partition
    # key columns restricted by equality; Sibyl wants the whole prefix.)
    agg = session.prepare(
        "SELECT iot_sensor_id, max(temperature) AS tmax, min(temperature) AS tmin, "
        "count(*) AS n FROM iot_sensor_metrics WHERE location = ? AND device_type = ? "
        "GROUP BY location, device_type, iot_sensor_id")
    hot, cold = {}, {}
    for loc, dt in partitions():
        got = list(session.execute(agg, (loc, dt)))
        assert len(got) == SENSORS_PER_PARTITION
        for r in got:
            assert r.n == READINGS_PER_SENSOR
            assert 15 <= r.tmin or r.tmin < -10
            if r.tmax > 40:
                hot[(loc, dt, r.iot_sensor_id)] = r.tmax
            if r.tmin < -10:
                cold[(loc, dt, r.iot_sensor_id)] = r.tmin
    assert hot == planted(HOT)
    assert cold == planted(COLD)

    # Across the table: the extreme readings themselves, by filtering.
    got = session.execute(
        "SELECT location, device_type, iot_sensor_id, recorded_timestamp, temperature "
        "FROM iot_sensor_metrics WHERE temperature > 40 ALLOW FILTERING")
    found = {(r.location, r.device_type, r.iot_sensor_id): r.temperature for r in got}
    assert found == planted(HOT)
    got = list(session.execute(
        "SELECT location, device_type, iot_sensor_id, recorded_timestamp, temperature "
        "FROM iot_sensor_metrics WHERE temperature < -10 ALLOW FILTERING"))
    assert {(r.location, r.device_type, r.iot_sensor_id): r.temperature
            for r in got} == planted(COLD)
    # ... with the time of the reading.
    (p, s, r), t = next(iter(COLD.items()))
    assert [(x.iot_sensor_id, x.recorded_timestamp.replace(tzinfo=datetime.timezone.utc))
            for x in got if x.temperature == t] == \
        [(sensor_id(p, s), T0 + datetime.timedelta(minutes=r))]
    # The whole table's extremes agree.
    mx, mn = session.execute(
        "SELECT max(temperature), min(temperature) FROM iot_sensor_metrics").one()
    assert (mx, mn) == (max(HOT.values()), min(COLD.values()))


# --- paging ---------------------------------------------------------------

PAGING_PARTITIONS = 100
PAGING_ROWS = 1000  # per partition: 100,000 rows


def test_paging_through_100k_rows_with_default_fetch_size(session):
    session.execute("CREATE KEYSPACE IF NOT EXISTS drvseed WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE drvseed.big (p int, c int, v int, PRIMARY KEY (p, c))")
    ins = session.prepare("INSERT INTO drvseed.big (p, c, v) VALUES (?, ?, ?)")
    batches = []
    for p in range(PAGING_PARTITIONS):
        b = BatchStatement(batch_type=BatchType.UNLOGGED)
        for c in range(PAGING_ROWS):
            b.add(ins, (p, c, p * PAGING_ROWS + c))
        batches.append(b)
    # At most 4 batches in flight: all 100 at once put 100,000 rows in one
    # node's queue, and the last ones wait out the 2 s write timeout on a
    # loaded machine (an overload answer, not what this test is about).
    for i in range(0, len(batches), 4):
        futures = [session.execute_async(b) for b in batches[i:i + 4]]
        for f in futures:
            f.result()

    stmt = SimpleStatement("SELECT p, c, v FROM drvseed.big")
    assert session.default_fetch_size == 5000
    rs = session.execute(stmt)
    assert rs.has_more_pages
    assert len(rs.current_rows) == 5000
    seen = bytearray(PAGING_PARTITIONS * PAGING_ROWS)
    count = 0
    for r in rs:
        assert r.v == r.p * PAGING_ROWS + r.c
        seen[r.v] += 1
        count += 1
    assert count == PAGING_PARTITIONS * PAGING_ROWS
    assert seen.count(1) == len(seen)  # every row exactly once
    assert not rs.has_more_pages


# --- Overloaded -----------------------------------------------------------

# The node answers Overloaded once a connection has more than 4096
# requests in flight (sb_cqlproto_opts.max_inflight). To get there
# deterministically the node is stopped (SIGSTOP) while the driver queues
# more requests than that on its one connection; the kernel buffers them,
# and when the node resumes it reads them all in one go (libuv reads until
# the socket is empty), so it sees them all in flight before the commit
# log can acknowledge the first. With 20,000 requests about 12,000-13,500
# were refused in every trial run (so the margin is wide); with 6,000 none
# were, as not enough of them reached the node's socket while it was stopped.
OVERLOAD_REQUESTS = 20000


def test_overloaded_surfaces_as_driver_exception(snode):
    profile = ExecutionProfile(retry_policy=FallthroughRetryPolicy(), request_timeout=60)
    c = Cluster(["127.0.0.1"], port=snode.cql_port,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        s = c.connect()
        s.execute("CREATE KEYSPACE IF NOT EXISTS drvseed WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE IF NOT EXISTS drvseed.ov (k int PRIMARY KEY, v int)")
        ins = s.prepare("INSERT INTO drvseed.ov (k, v) VALUES (?, ?)")
        os.kill(snode.proc.pid, signal.SIGSTOP)
        try:
            futures = [s.execute_async(ins, (i, i)) for i in range(OVERLOAD_REQUESTS)]
            time.sleep(1.0)  # let the driver's I/O thread write them all
        finally:
            os.kill(snode.proc.pid, signal.SIGCONT)
        overloaded, ok, other = [], 0, []
        for f in futures:
            try:
                f.result()
                ok += 1
            except OverloadedErrorMessage as e:
                overloaded.append(e)
            except (OperationTimedOut, NoHostAvailable) as e:
                other.append(e)
        assert not other, other[:3]
        assert overloaded, "no request was refused with Overloaded (%d ok)" % ok
        assert ok >= 4096
        e = overloaded[0]
        assert e.code == 0x1001
        assert "too many requests in flight" in str(e)
        # The node is fine afterwards, and the refused inserts did not happen.
        assert s.execute("SELECT count(*) FROM drvseed.ov").one()[0] == ok
    finally:
        c.shutdown()
