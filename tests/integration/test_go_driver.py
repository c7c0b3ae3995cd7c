"""gocql, the Go driver as Debian packages it (golang-github-gocql-gocql-dev
1.3.2), against one real node and against a 3-node cluster on
127.0.0.1-3: tests/drivers/go's checks (peer discovery, DDL and schema
agreement, Session.KeyspaceMetadata, every type prepared, paging, batches,
ONE/QUORUM/ALL, typed errors, lightweight transactions, token-aware
routing) must all pass.
"""
import os

import pytest

import driver_checks
from conftest import ROOT


@pytest.fixture(scope="module")
def argv():
    driver_checks.build("build/drivers/gocql-check")
    program = os.path.join(ROOT, "build/drivers/gocql-check")
    return lambda port, nodes: [program, "-host", "127.0.0.1", "-port", str(port),
                                "-nodes", str(nodes)]


def test_gocql_against_one_node(argv, tmp_path):
    driver_checks.against_one_node(argv, "keyspace_metadata", tmp_path)


def test_gocql_against_three_nodes(argv, tmp_path):
    driver_checks.against_three_nodes(argv, "keyspace_metadata", tmp_path)
