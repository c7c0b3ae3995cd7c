// Command gocql-check runs Sibyl's driver checks with gocql, the Go
// driver (Debian's golang-github-gocql-gocql-dev), against a running node
// or cluster. It prints one line per check, "ok NAME" or "FAIL NAME: why",
// then "N passed, M failed", and exits 1 when a check failed.
//
//	gocql-check -host 127.0.0.1 -port 9042 -nodes 3
//
// -nodes is how many nodes the cluster has: the peers the driver must
// discover and the replication factor of the keyspaces it creates (at
// most 3). tests/integration/test_go_driver.py runs it against one node
// and against three; tests/drivers/README.md says how to run it by hand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

const keyspace = "gocheck"

type checker struct {
	host    string
	port    int
	nodes   int
	rf      int
	session *gocql.Session

	mu    sync.Mutex
	hosts map[string]*gocql.HostInfo // every host the driver discovered
}

// newCluster is the driver's configuration for every session: protocol
// v4 and token-aware routing over round robin. The host filter only
// records the hosts the control connection finds (it accepts them all).
func (c *checker) newCluster() *gocql.ClusterConfig {
	cl := gocql.NewCluster(c.host)
	cl.Port = c.port
	cl.ProtoVersion = 4
	cl.Timeout = 10 * time.Second
	cl.ConnectTimeout = 10 * time.Second
	cl.MaxWaitSchemaAgreement = 30 * time.Second
	cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	cl.HostFilter = gocql.HostFilterFunc(func(h *gocql.HostInfo) bool {
		c.mu.Lock()
		c.hosts[h.ConnectAddress().String()] = h
		c.mu.Unlock()
		return true
	})
	return cl
}

func (c *checker) hostList() []*gocql.HostInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*gocql.HostInfo, 0, len(c.hosts))
	for _, h := range c.hosts {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].ConnectAddress().String() < out[j].ConnectAddress().String()
	})
	return out
}

func (c *checker) exec(stmt string, values ...interface{}) error {
	return c.session.Query(stmt, values...).Exec()
}

func main() {
	c := &checker{hosts: map[string]*gocql.HostInfo{}}
	flag.StringVar(&c.host, "host", "127.0.0.1", "contact point")
	flag.IntVar(&c.port, "port", 9042, "CQL port (the same on every node)")
	flag.IntVar(&c.nodes, "nodes", 1, "number of nodes in the cluster")
	flag.Parse()
	c.rf = c.nodes
	if c.rf > 3 {
		c.rf = 3
	}

	checks := []struct {
		name string
		fn   func() error
	}{
		{"connect_and_discover_peers", c.checkConnect},
		{"create_keyspace_table_schema_agreement", c.checkSchema},
		{"keyspace_metadata", c.checkKeyspaceMetadata},
		{"prepared_every_type", c.checkEveryType},
		{"paging_5500_rows", c.checkPaging},
		{"batches", c.checkBatches},
		{"consistency_one_quorum_all", c.checkConsistency},
		{"error_syntax", c.checkSyntaxError},
		{"error_unavailable", c.checkUnavailable},
		{"lwt_insert_update_serial", c.checkLWT},
		{"token_aware_routing", c.checkTokenAware},
	}
	passed, failed := 0, 0
	for _, ch := range checks {
		start := time.Now()
		var err error
		if ch.name != "connect_and_discover_peers" && c.session == nil {
			err = errors.New("no session (connect failed)")
		} else {
			err = ch.fn()
		}
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", ch.name, err)
		} else {
			passed++
			fmt.Printf("ok %s (%d ms)\n", ch.name, time.Since(start).Milliseconds())
		}
	}
	if c.session != nil {
		c.session.Close()
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// checkConnect: one contact point; the driver must find every node
// through system.peers, each with its data centre, host id and tokens.
func (c *checker) checkConnect() error {
	s, err := c.newCluster().CreateSession()
	if err != nil {
		return fmt.Errorf("CreateSession: %w", err)
	}
	c.session = s
	deadline := time.Now().Add(10 * time.Second)
	for len(c.hostList()) < c.nodes && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	hosts := c.hostList()
	if len(hosts) != c.nodes {
		return fmt.Errorf("discovered %d hosts %v, want %d", len(hosts), hosts, c.nodes)
	}
	ids := map[string]bool{}
	for i, h := range hosts {
		want := fmt.Sprintf("127.0.0.%d", i+1)
		if c.nodes == 1 {
			want = c.host
		}
		if got := h.ConnectAddress().String(); got != want {
			return fmt.Errorf("host %d is %s, want %s", i, got, want)
		}
		if h.DataCenter() != "datacenter1" || h.Rack() != "rack1" {
			return fmt.Errorf("%s: dc %q rack %q", want, h.DataCenter(), h.Rack())
		}
		if h.HostID() == "" || ids[h.HostID()] {
			return fmt.Errorf("%s: host id %q empty or repeated", want, h.HostID())
		}
		ids[h.HostID()] = true
		if len(h.Tokens()) == 0 {
			return fmt.Errorf("%s: no tokens", want)
		}
		if h.Port() != c.port {
			return fmt.Errorf("%s: port %d, want %d", want, h.Port(), c.port)
		}
	}
	var n int
	iter := s.Query("SELECT peer FROM system.peers").Iter()
	var peer string
	for iter.Scan(&peer) {
		n++
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("system.peers: %w", err)
	}
	if n != c.nodes-1 {
		return fmt.Errorf("system.peers has %d rows, want %d", n, c.nodes-1)
	}
	return nil
}

// checkSchema: DDL through the driver, which waits for schema agreement
// after each statement; then an explicit wait, and every node's
// schema_version must be the same. Keyspaces of an earlier run are
// dropped first, so the program can be run again on the same cluster.
func (c *checker) checkSchema() error {
	var stmts []string
	for _, suffix := range []string{"", "_big", "_rf1"} {
		stmts = append(stmts, "DROP KEYSPACE IF EXISTS "+keyspace+suffix)
	}
	stmts = append(stmts,
		fmt.Sprintf("CREATE KEYSPACE %s WITH replication = "+
			"{'class': 'SimpleStrategy', 'replication_factor': %d}", keyspace, c.rf),
		"CREATE TABLE "+keyspace+".kv (k int PRIMARY KEY, v text)",
		"CREATE TABLE "+keyspace+".meta (a int, b text, c timestamp, d bigint, s text static, "+
			"m map<text, double>, PRIMARY KEY ((a, b), c, d)) "+
			"WITH CLUSTERING ORDER BY (c DESC, d ASC)")
	for _, q := range stmts {
		if err := c.exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("AwaitSchemaAgreement: %w", err)
	}
	var local gocql.UUID
	if err := c.session.Query("SELECT schema_version FROM system.local").Scan(&local); err != nil {
		return err
	}
	iter := c.session.Query("SELECT peer, schema_version FROM system.peers").Iter()
	var peer string
	var v gocql.UUID
	for iter.Scan(&peer, &v) {
		if v != local {
			return fmt.Errorf("peer %s has schema %s, local %s", peer, v, local)
		}
	}
	return iter.Close()
}

// checkKeyspaceMetadata: gocql reads every system_schema table
// (keyspaces, tables, columns, views, types, functions, aggregates,
// indexes, triggers) and must find the tables with their keys.
func (c *checker) checkKeyspaceMetadata() error {
	km, err := c.session.KeyspaceMetadata(keyspace)
	if err != nil {
		return fmt.Errorf("KeyspaceMetadata: %w", err)
	}
	if !strings.HasSuffix(km.StrategyClass, "SimpleStrategy") {
		return fmt.Errorf("strategy %q", km.StrategyClass)
	}
	if fmt.Sprint(km.StrategyOptions["replication_factor"]) != fmt.Sprint(c.rf) {
		return fmt.Errorf("strategy options %v", km.StrategyOptions)
	}
	t, ok := km.Tables["meta"]
	if !ok {
		return fmt.Errorf("no table meta in %v", km.Tables)
	}
	if _, ok := km.Tables["kv"]; !ok {
		return errors.New("no table kv")
	}
	names := func(cols []*gocql.ColumnMetadata) string {
		var s []string
		for _, col := range cols {
			s = append(s, col.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(t.PartitionKey); got != "a,b" {
		return fmt.Errorf("partition key %s", got)
	}
	if got := names(t.ClusteringColumns); got != "c,d" {
		return fmt.Errorf("clustering columns %s", got)
	}
	if t.ClusteringColumns[0].Order != gocql.DESC || t.ClusteringColumns[1].Order != gocql.ASC {
		return errors.New("clustering order is not (c DESC, d ASC)")
	}
	if k := t.Columns["s"].Kind; k != gocql.ColumnStatic {
		return fmt.Errorf("s is %v, not static", k)
	}
	if typ := t.Columns["m"].Type.Type(); typ != gocql.TypeMap {
		return fmt.Errorf("m has type %v", typ)
	}
	if len(t.Columns) != 6 {
		return fmt.Errorf("%d columns", len(t.Columns))
	}
	return nil
}
