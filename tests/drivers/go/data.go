package main

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

type typedValue struct {
	column, cqlType string
	value           interface{}
}

// everyType is one value of each CQL type Sibyl supports, as gocql
// marshals it (docs/cql.md, Types).
func everyType() []typedValue {
	varint, _ := new(big.Int).SetString("1267650600228229401496703205383", 10) // 2^100 + 7
	return []typedValue{
		{"t_text", "text", "héllo wörld"},
		{"t_ascii", "ascii", "plain"},
		{"t_varchar", "varchar", "also text"},
		{"t_int", "int", -123456},
		{"t_bigint", "bigint", int64(1)<<62 + 5},
		{"t_smallint", "smallint", int16(-32000)},
		{"t_tinyint", "tinyint", int8(100)},
		{"t_float", "float", float32(1.5)},
		{"t_double", "double", 3.141592653589793},
		{"t_boolean", "boolean", true},
		{"t_timestamp", "timestamp", time.Date(2026, 11, 21, 15, 4, 5, 123e6, time.UTC)},
		{"t_date", "date", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)},
		{"t_time", "time", time.Duration(54245123456789)},
		{"t_uuid", "uuid", mustUUID("123e4567-e89b-42d3-a456-426614174000")},
		{"t_timeuuid", "timeuuid", mustUUID("d2177dd0-eaa2-11de-a572-001b779c76e3")},
		{"t_blob", "blob", []byte("\x00\xffbinary")},
		{"t_inet", "inet", net.ParseIP("192.168.1.20")},
		{"t_inet6", "inet", net.ParseIP("2001:db8::1")},
		{"t_decimal", "decimal", inf.NewDec(-123456789, 4)},
		{"t_varint", "varint", varint},
		{"t_list", "list<int>", []int{3, 1, 2}},
		{"t_set", "set<text>", []string{"x", "y"}},
		{"t_map", "map<text, double>", map[string]float64{"a": 1.5, "b": -2}},
		{"t_flist", "frozen<list<text>>", []string{"p", "q"}},
	}
}

func mustUUID(s string) gocql.UUID {
	u, err := gocql.ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// canonical renders a value read back by MapScan and the value written
// the same way when they are equal (IPv4 addresses come back as 4 or 16
// bytes, sets in the server's order, times in any zone).
func canonical(v interface{}) string {
	switch x := v.(type) {
	case string: // text, and inet as MapScan returns it
		return x
	case net.IP:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *inf.Dec:
		return x.String()
	case *big.Int:
		return x.String()
	case []byte:
		return fmt.Sprintf("%x", x)
	case []string:
		s := append([]string(nil), x...)
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	return fmt.Sprintf("%T %v", v, v)
}

// checkEveryType: a prepared INSERT binding every type and a prepared
// SELECT reading them back; then nulls and empty values.
func (c *checker) checkEveryType() error {
	vals := everyType()
	var cols, names, marks []string
	args := []interface{}{1}
	for _, v := range vals {
		cols = append(cols, v.column+" "+v.cqlType)
		names = append(names, v.column)
		marks = append(marks, "?")
		args = append(args, v.value)
	}
	if err := c.exec(fmt.Sprintf("CREATE TABLE %s.types (k int PRIMARY KEY, %s)",
		keyspace, strings.Join(cols, ", "))); err != nil {
		return err
	}
	ins := fmt.Sprintf("INSERT INTO %s.types (k, %s) VALUES (?, %s)", keyspace,
		strings.Join(names, ", "), strings.Join(marks, ", "))
	if err := c.exec(ins, args...); err != nil {
		return fmt.Errorf("prepared INSERT: %w", err)
	}
	row := map[string]interface{}{}
	if err := c.session.Query("SELECT * FROM "+keyspace+".types WHERE k = ?", 1).MapScan(row); err != nil {
		return fmt.Errorf("prepared SELECT: %w", err)
	}
	for _, v := range vals {
		if got, want := canonical(row[v.column]), canonical(v.value); got != want {
			return fmt.Errorf("%s (%s): read %s, wrote %s", v.column, v.cqlType, got, want)
		}
	}
	// An empty string is a value (not null), an unset int is null. (gocql
	// reads an empty blob into a nil slice, so blob emptiness is all it shows.)
	if err := c.exec("INSERT INTO "+keyspace+".types (k, t_text, t_blob) VALUES (?, ?, ?)",
		2, "", []byte{}); err != nil {
		return err
	}
	var text *string
	var blob []byte
	var n *int
	if err := c.session.Query("SELECT t_text, t_blob, t_int FROM "+keyspace+".types WHERE k = ?", 2).
		Scan(&text, &blob, &n); err != nil {
		return err
	}
	if text == nil || *text != "" || len(blob) != 0 || n != nil {
		return fmt.Errorf("empty/null: text %v blob %v int %v", text, blob, n)
	}
	return nil
}

type pageCounter struct{ pages int }

func (p *pageCounter) ObserveQuery(_ context.Context, q gocql.ObservedQuery) { p.pages++ }

// checkPaging: 5,500 rows in five partitions, read back 1,000 a page by
// the driver's own paging, then one partition resumed by hand from the
// paging state.
func (c *checker) checkPaging() error {
	if err := c.exec("CREATE TABLE " + keyspace + ".pg (p int, c int, v text, PRIMARY KEY (p, c))"); err != nil {
		return err
	}
	const parts, perPart = 5, 1100
	for p := 0; p < parts; p++ {
		b := c.session.NewBatch(gocql.UnloggedBatch)
		for i := 0; i < perPart; i++ {
			b.Query("INSERT INTO "+keyspace+".pg (p, c, v) VALUES (?, ?, ?)", p, i, "v")
		}
		if err := c.session.ExecuteBatch(b); err != nil {
			return fmt.Errorf("batch insert: %w", err)
		}
	}
	obs := &pageCounter{}
	iter := c.session.Query("SELECT p, c FROM " + keyspace + ".pg").PageSize(1000).Observer(obs).Iter()
	seen := map[[2]int]bool{}
	var p, ck int
	for iter.Scan(&p, &ck) {
		seen[[2]int{p, ck}] = true
	}
	if err := iter.Close(); err != nil {
		return err
	}
	if len(seen) != parts*perPart {
		return fmt.Errorf("read %d distinct rows, want %d", len(seen), parts*perPart)
	}
	if obs.pages < 6 {
		return fmt.Errorf("%d pages for %d rows at 1000 a page", obs.pages, len(seen))
	}
	var state []byte
	next := 0
	for page := 0; page < 10; page++ {
		it := c.session.Query("SELECT c FROM "+keyspace+".pg WHERE p = ?", 3).
			PageSize(400).PageState(state).Iter()
		state = it.PageState()
		for it.Scan(&ck) {
			if ck != next {
				return fmt.Errorf("page %d: c %d, want %d", page, ck, next)
			}
			next++
		}
		if err := it.Close(); err != nil {
			return err
		}
		if len(state) == 0 {
			break
		}
	}
	if next != perPart {
		return fmt.Errorf("manual paging read %d rows, want %d", next, perPart)
	}
	return nil
}

func (c *checker) count(table string, k int) (int, error) {
	var n int
	err := c.session.Query("SELECT count(*) FROM "+keyspace+"."+table+" WHERE k = ?", k).Scan(&n)
	return n, err
}

// checkBatches: logged and unlogged batches of prepared and literal
// statements; a batch with a bad statement fails whole.
func (c *checker) checkBatches() error {
	if err := c.exec("CREATE TABLE " + keyspace + ".bt (k int, c int, v text, PRIMARY KEY (k, c))"); err != nil {
		return err
	}
	ins := "INSERT INTO " + keyspace + ".bt (k, c, v) VALUES (?, ?, ?)"
	b := c.session.NewBatch(gocql.LoggedBatch)
	for i := 0; i < 5; i++ {
		b.Query(ins, 1, i, fmt.Sprintf("p%d", i))
	}
	b.Query("UPDATE " + keyspace + ".bt SET v = 'lit' WHERE k = 2 AND c = 0")
	if err := c.session.ExecuteBatch(b); err != nil {
		return fmt.Errorf("logged batch: %w", err)
	}
	if n, err := c.count("bt", 1); err != nil || n != 5 {
		return fmt.Errorf("k=1 has %d rows (%v), want 5", n, err)
	}
	var v string
	if err := c.session.Query("SELECT v FROM " + keyspace + ".bt WHERE k = 2 AND c = 0").Scan(&v); err != nil || v != "lit" {
		return fmt.Errorf("literal statement: %q %v", v, err)
	}
	u := c.session.NewBatch(gocql.UnloggedBatch)
	for i := 0; i < 3; i++ {
		u.Query(ins, 3, i, "u")
	}
	if err := c.session.ExecuteBatch(u); err != nil {
		return fmt.Errorf("unlogged batch: %w", err)
	}
	if n, err := c.count("bt", 3); err != nil || n != 3 {
		return fmt.Errorf("k=3 has %d rows (%v), want 3", n, err)
	}
	bad := c.session.NewBatch(gocql.LoggedBatch)
	bad.Query(ins, 4, 0, "x")
	bad.Query("INSERT INTO " + keyspace + ".nosuchtable (k) VALUES (1)")
	if err := c.session.ExecuteBatch(bad); err == nil {
		return errors.New("a batch with an unknown table succeeded")
	}
	if n, err := c.count("bt", 4); err != nil || n != 0 {
		return fmt.Errorf("failed batch left %d rows (%v)", n, err)
	}
	return nil
}

// checkConsistency: a write and a read back at ONE, QUORUM and ALL with
// every node up.
func (c *checker) checkConsistency() error {
	for i, cl := range []gocql.Consistency{gocql.One, gocql.Quorum, gocql.All} {
		want := "at " + cl.String()
		if err := c.session.Query("INSERT INTO "+keyspace+".kv (k, v) VALUES (?, ?)", 100+i, want).
			Consistency(cl).Exec(); err != nil {
			return fmt.Errorf("write at %s: %w", cl, err)
		}
		var got string
		if err := c.session.Query("SELECT v FROM "+keyspace+".kv WHERE k = ?", 100+i).
			Consistency(cl).Scan(&got); err != nil {
			return fmt.Errorf("read at %s: %w", cl, err)
		}
		if got != want {
			return fmt.Errorf("read %q at %s, want %q", got, cl, want)
		}
	}
	return nil
}
