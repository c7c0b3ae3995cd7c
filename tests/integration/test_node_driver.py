"""The DataStax Node.js driver (cassandra-driver, pinned in
tests/drivers/node/package.json) against one real node and against a
3-node cluster on 127.0.0.1-3: tests/drivers/node's checks (peer
discovery, DDL and schema agreement, client.metadata.getTable, every type
prepared, paging, batches, ONE/QUORUM/ALL, typed errors, lightweight
transactions, token-aware routing) must all pass.
"""
import os

import pytest

import driver_checks
from conftest import ROOT

DIR = os.path.join(ROOT, "tests/drivers/node")


@pytest.fixture(scope="module")
def argv():
    driver_checks.build("tests/drivers/node/node_modules/.ci-stamp")
    return lambda port, nodes: ["node", os.path.join(DIR, "check.mjs"), "--host", "127.0.0.1",
                                "--port", str(port), "--nodes", str(nodes)]


def test_node_driver_against_one_node(argv, tmp_path):
    driver_checks.against_one_node(argv, "metadata_get_table", tmp_path, cwd=DIR)


def test_node_driver_against_three_nodes(argv, tmp_path):
    driver_checks.against_three_nodes(argv, "metadata_get_table", tmp_path, cwd=DIR)
