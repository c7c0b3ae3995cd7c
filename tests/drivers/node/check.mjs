// Sibyl's checks with the DataStax Node.js driver (cassandra-driver, pinned
// in package.json) against a running node or cluster. Prints one line per
// check, "ok NAME" or "FAIL NAME: why", then "N passed, M failed", and exits
// 1 when a check failed.
//
//   node check.mjs --host 127.0.0.1 --port 9042 --nodes 3
//
// --nodes is how many nodes the cluster has: the hosts the driver must
// discover and the replication factor of the keyspaces it creates (at most
// 3). tests/integration/test_node_driver.py runs it against one node and
// against three; tests/drivers/README.md says how to run it by hand.
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';

import cassandra from 'cassandra-driver';

const { types, errors } = cassandra;
const cl = types.consistencies;
const codes = types.responseErrorCodes;
const clName = (c) => Object.keys(cl).find((k) => cl[k] === c);

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9042' },
    nodes: { type: 'string', default: '1' },
  },
});
const port = Number(args.port);
const nodes = Number(args.nodes);
const rf = Math.min(nodes, 3);
const KS = 'nodecheck';

const client = new cassandra.Client({
  contactPoints: [args.host],
  localDataCenter: 'datacenter1',
  protocolOptions: { port },
  socketOptions: { connectTimeout: 10000, readTimeout: 20000 },
  // Default policies: token-aware over DC-aware round robin.
});

const exec = (query, params = [], options = {}) =>
  client.execute(query, params, { prepare: params.length > 0, ...options });

function ip(host) {
  return host.address.split(':')[0];
}

async function checkConnect() {
  await client.connect();
  const deadline = Date.now() + 10000;
  while (client.hosts.length < nodes && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const hosts = [...client.hosts.values()].sort((a, b) => a.address.localeCompare(b.address));
  assert.equal(hosts.length, nodes, `discovered ${hosts.map((h) => h.address)}`);
  const ids = new Set();
  hosts.forEach((h, i) => {
    const want = nodes === 1 ? args.host : `127.0.0.${i + 1}`;
    assert.equal(h.address, `${want}:${port}`);
    assert.equal(h.datacenter, 'datacenter1');
    assert.equal(h.rack, 'rack1');
    assert.ok(h.isUp(), `${h.address} is not up`);
    assert.ok(h.hostId, `${h.address} has no host id`);
    ids.add(h.hostId.toString());
    assert.ok(h.tokens && h.tokens.length > 0, `${h.address} has no tokens`);
  });
  assert.equal(ids.size, nodes, 'host ids are not distinct');
  const peers = await exec('SELECT peer FROM system.peers');
  assert.equal(peers.rowLength, nodes - 1);
}

async function checkSchema() {
  for (const suffix of ['', '_nodc', '_big', '_rf1']) {
    await exec(`DROP KEYSPACE IF EXISTS ${KS}${suffix}`);
  }
  const ddl = [
    `CREATE KEYSPACE ${KS} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': ${rf}}`,
    `CREATE TABLE ${KS}.kv (k int PRIMARY KEY, v text)`,
    `CREATE TABLE ${KS}.meta (a int, b text, c timestamp, d bigint, s text static, ` +
      'm map<text, double>, PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC)',
  ];
  for (const q of ddl) {
    const rs = await exec(q);
    // The driver waits for agreement after DDL and says whether it came.
    assert.equal(rs.info.isSchemaInAgreement, true, `no schema agreement after ${q}`);
  }
  assert.equal(await client.metadata.checkSchemaAgreement(), true);
  const local = (await exec('SELECT schema_version FROM system.local')).first().schema_version;
  for (const row of (await exec('SELECT peer, schema_version FROM system.peers')).rows) {
    assert.equal(row.schema_version.toString(), local.toString(), `peer ${row.peer}`);
  }
}

async function checkTableMetadata() {
  await client.metadata.refreshKeyspace(KS);
  const ks = client.metadata.keyspaces[KS];
  assert.ok(ks, `no keyspace ${KS} in metadata`);
  assert.match(ks.strategy, /SimpleStrategy$/);
  assert.equal(String(ks.strategyOptions.replication_factor), String(rf));
  const t = await client.metadata.getTable(KS, 'meta');
  assert.ok(t, 'getTable returned nothing');
  assert.deepEqual(t.partitionKeys.map((c) => c.name), ['a', 'b']);
  assert.deepEqual(t.clusteringKeys.map((c) => c.name), ['c', 'd']);
  assert.deepEqual(t.clusteringOrder, ['DESC', 'ASC']);
  assert.equal(t.columns.length, 6);
  assert.ok(t.columnsByName.s.isStatic, 's is not static');
  assert.equal(t.columnsByName.m.type.code, types.dataTypes.map);
  assert.equal(t.columnsByName.d.type.code, types.dataTypes.bigint);
  const kv = await client.metadata.getTable(KS, 'kv');
  assert.deepEqual(kv.partitionKeys.map((c) => c.name), ['k']);
  assert.equal(await client.metadata.getTable(KS, 'no_such_table'), null);
}

function everyType() {
  return [
    ['t_text', 'text', 'héllo wörld'],
    ['t_ascii', 'ascii', 'plain'],
    ['t_varchar', 'varchar', 'also text'],
    ['t_int', 'int', -123456],
    ['t_bigint', 'bigint', types.Long.fromString('4611686018427387909')], // 2^62 + 5
    ['t_smallint', 'smallint', -32000],
    ['t_tinyint', 'tinyint', 100],
    ['t_float', 'float', 1.5],
    ['t_double', 'double', 3.141592653589793],
    ['t_boolean', 'boolean', true],
    ['t_timestamp', 'timestamp', new Date('2026-11-21T15:04:05.123Z')],
    ['t_date', 'date', types.LocalDate.fromString('2026-11-21')],
    ['t_time', 'time', types.LocalTime.fromString('15:04:05.123456789')],
    ['t_uuid', 'uuid', types.Uuid.fromString('123e4567-e89b-42d3-a456-426614174000')],
    ['t_timeuuid', 'timeuuid', types.TimeUuid.fromString('d2177dd0-eaa2-11de-a572-001b779c76e3')],
    ['t_blob', 'blob', Buffer.from('00ff62696e617279', 'hex')],
    ['t_inet', 'inet', types.InetAddress.fromString('192.168.1.20')],
    ['t_inet6', 'inet', types.InetAddress.fromString('2001:db8::1')],
    ['t_decimal', 'decimal', types.BigDecimal.fromString('-12345.6789')],
    ['t_varint', 'varint', types.Integer.fromString('1267650600228229401496703205383')], // 2^100 + 7
    ['t_list', 'list<int>', [3, 1, 2]],
    ['t_set', 'set<text>', ['x', 'y']],
    ['t_map', 'map<text, double>', { a: 1.5, b: -2 }],
    ['t_flist', 'frozen<list<text>>', ['p', 'q']],
  ];
}

// The same text for a value written and the value read back when they are
// equal: driver types by toString, dates in ISO, sets sorted.
function canonical(v, cqlType) {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) {
    const items = v.map((x) => canonical(x));
    return JSON.stringify(cqlType && cqlType.startsWith('set') ? items.sort() : items);
  }
  if (v !== null && typeof v === 'object' && v.constructor === Object) {
    return JSON.stringify(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  }
  return `${typeof v}:${v}`;
}

async function checkEveryType() {
  const vals = everyType();
  const cols = vals.map(([n, t]) => `${n} ${t}`).join(', ');
  await exec(`CREATE TABLE ${KS}.types (k int PRIMARY KEY, ${cols})`);
  const names = vals.map(([n]) => n);
  const ins = `INSERT INTO ${KS}.types (k, ${names.join(', ')}) VALUES (?, ${names.map(() => '?').join(', ')})`;
  await exec(ins, [1, ...vals.map(([, , v]) => v)]);
  const row = (await exec(`SELECT * FROM ${KS}.types WHERE k = ?`, [1])).first();
  for (const [n, t, v] of vals) {
    assert.equal(canonical(row[n], t), canonical(v, t), `${n} (${t})`);
  }
  // An empty string and an empty blob are values, not null; an unset int is null.
  await exec(`INSERT INTO ${KS}.types (k, t_text, t_blob) VALUES (?, ?, ?)`, [2, '', Buffer.alloc(0)]);
  const r2 = (await exec(`SELECT t_text, t_blob, t_int FROM ${KS}.types WHERE k = ?`, [2])).first();
  assert.equal(r2.t_text, '');
  assert.ok(Buffer.isBuffer(r2.t_blob) && r2.t_blob.length === 0, `t_blob ${r2.t_blob}`);
  assert.equal(r2.t_int, null);
}

async function checkPaging() {
  await exec(`CREATE TABLE ${KS}.pg (p int, c int, v text, PRIMARY KEY (p, c))`);
  const parts = 5, perPart = 1100;
  for (let p = 0; p < parts; p++) {
    const batch = [];
    for (let c = 0; c < perPart; c++) {
      batch.push({ query: `INSERT INTO ${KS}.pg (p, c, v) VALUES (?, ?, ?)`, params: [p, c, 'v'] });
    }
    await client.batch(batch, { prepare: true, logged: false });
  }
  // By hand, page after page from the paging state.
  const seen = new Set();
  let pageState, pages = 0;
  do {
    const rs = await exec(`SELECT p, c FROM ${KS}.pg`, [], { fetchSize: 1000, pageState });
    assert.ok(rs.rowLength <= 1000, `page of ${rs.rowLength} rows`);
    rs.rows.forEach((r) => seen.add(`${r.p}/${r.c}`));
    pageState = rs.pageState;
    pages++;
  } while (pageState && pages < 20);
  assert.equal(seen.size, parts * perPart);
  assert.ok(pages >= 6, `${pages} pages for ${seen.size} rows`);
  // The driver's own paging: the result set as an async iterator.
  const rs = await exec(`SELECT c FROM ${KS}.pg WHERE p = ?`, [3], { fetchSize: 400 });
  assert.equal(rs.rowLength, 400);
  let next = 0;
  for await (const r of rs) {
    assert.equal(r.c, next++);
  }
  assert.equal(next, perPart);
}

async function count(table, k) {
  return (await exec(`SELECT count(*) AS n FROM ${KS}.${table} WHERE k = ?`, [k])).first().n.toNumber();
}

async function checkBatches() {
  await exec(`CREATE TABLE ${KS}.bt (k int, c int, v text, PRIMARY KEY (k, c))`);
  const ins = `INSERT INTO ${KS}.bt (k, c, v) VALUES (?, ?, ?)`;
  const logged = [0, 1, 2, 3, 4].map((i) => ({ query: ins, params: [1, i, `p${i}`] }));
  logged.push(`UPDATE ${KS}.bt SET v = 'lit' WHERE k = 2 AND c = 0`);
  await client.batch(logged, { prepare: true });
  assert.equal(await count('bt', 1), 5);
  assert.equal((await exec(`SELECT v FROM ${KS}.bt WHERE k = 2 AND c = 0`)).first().v, 'lit');
  await client.batch([0, 1, 2].map((i) => ({ query: ins, params: [3, i, 'u'] })), { prepare: true, logged: false });
  assert.equal(await count('bt', 3), 3);
  await assert.rejects(
    client.batch([{ query: ins, params: [4, 0, 'x'] }, `INSERT INTO ${KS}.nosuchtable (k) VALUES (1)`]),
    errors.ResponseError);
  assert.equal(await count('bt', 4), 0, 'a failed batch left rows');
}

async function checkConsistency() {
  for (const [i, c] of [cl.one, cl.quorum, cl.all].entries()) {
    const want = `at ${clName(c)}`;
    await exec(`INSERT INTO ${KS}.kv (k, v) VALUES (?, ?)`, [100 + i, want], { consistency: c });
    const rs = await exec(`SELECT v FROM ${KS}.kv WHERE k = ?`, [100 + i], { consistency: c });
    assert.equal(rs.first().v, want);
  }
}

async function rejectsWith(promise, code, what) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof errors.ResponseError, `${what}: ${e}`);
    assert.equal(e.code, code, `${what}: code ${e.code} (${e.message})`);
    return e;
  }
  assert.fail(`${what} succeeded`);
}

async function checkErrors() {
  await rejectsWith(exec('SELEKT * FROM nothing'), codes.syntaxError, 'SELEKT');
  await rejectsWith(exec(`SELECT * FROM ${KS}.no_such_table`), codes.invalid, 'unknown table');
  const e = await rejectsWith(exec(`CREATE TABLE ${KS}.kv (k int PRIMARY KEY)`), codes.alreadyExists,
    'CREATE TABLE twice');
  assert.equal(e.keyspace, KS);
  assert.equal(e.table, 'kv');
}

// Writes that cannot reach enough live replicas: a data centre with no
// nodes at ONE, and a replication factor above the node count at ALL. The
// default retry policy tries the next host once on Unavailable (on one
// node that ends in NoHostAvailableError); falling through shows the
// coordinator's own error.
async function checkUnavailable() {
  const cases = [
    [`${KS}_nodc`, "{'class': 'NetworkTopologyStrategy', 'nodc': 1}", cl.one, 1, 0],
    [`${KS}_big`, `{'class': 'SimpleStrategy', 'replication_factor': ${nodes + 1}}`, cl.all, nodes + 1, nodes],
  ];
  for (const [ks, replication, c, required, alive] of cases) {
    await exec(`CREATE KEYSPACE ${ks} WITH replication = ${replication}`);
    await exec(`CREATE TABLE ${ks}.t (k int PRIMARY KEY, v int)`);
    const write = exec(`INSERT INTO ${ks}.t (k, v) VALUES (1, 1)`, [],
      { consistency: c, retry: new cassandra.policies.retry.FallthroughRetryPolicy() });
    const e = await rejectsWith(write,
      codes.unavailableException, `${ks} at ${clName(c)}`);
    assert.deepEqual([e.consistencies, e.required, e.alive], [c, required, alive]);
  }
}

async function checkLWT() {
  await exec(`CREATE TABLE ${KS}.reg (k text PRIMARY KEY, owner text, v int)`);
  const reg = `${KS}.reg`;
  const ifNotExists = `INSERT INTO ${reg} (k, owner, v) VALUES (?, ?, ?) IF NOT EXISTS`;
  let rs = await exec(ifNotExists, ['cas', 'a', 1], { serialConsistency: cl.serial });
  assert.equal(rs.wasApplied(), true);
  assert.deepEqual(rs.columns.map((c) => c.name), ['[applied]']);
  rs = await exec(ifNotExists, ['cas', 'b', 9]);
  assert.equal(rs.wasApplied(), false);
  assert.deepEqual(rs.columns.map((c) => c.name), ['[applied]', 'k', 'owner', 'v']);
  assert.deepEqual([rs.first().owner, rs.first().v], ['a', 1]);
  rs = await exec(`UPDATE ${reg} SET v = 2 WHERE k = 'cas' IF v = 1`);
  assert.equal(rs.wasApplied(), true);
  rs = await exec(`UPDATE ${reg} SET v = 3 WHERE k = 'cas' IF v = 1`);
  assert.equal(rs.wasApplied(), false);
  assert.equal(rs.first().v, 2);
  for (let old = 2; old < 5; old++) {
    rs = await exec(`UPDATE ${reg} SET v = ? WHERE k = ? IF v = ?`, [old + 1, 'cas', old],
      { serialConsistency: cl.localSerial });
    assert.equal(rs.wasApplied(), true, `UPDATE IF v = ${old} at LOCAL_SERIAL`);
  }
  rs = await exec(`SELECT v FROM ${reg} WHERE k = ?`, ['cas'], { consistency: cl.serial });
  assert.equal(rs.first().v, 5);
  assert.equal((await exec(`DELETE FROM ${reg} WHERE k = 'cas' IF EXISTS`)).wasApplied(), true);
  assert.equal((await exec(`DELETE FROM ${reg} WHERE k = 'cas' IF EXISTS`)).wasApplied(), false);
}

// With replication factor 1 each prepared statement must go straight to
// the node owning its partition: the first token at or after the
// partition's (Murmur3, wrapping), by the tokens the driver read.
async function checkTokenAware() {
  const ks = `${KS}_rf1`;
  await exec(`CREATE KEYSPACE ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await exec(`CREATE TABLE ${ks}.t (k int PRIMARY KEY, v int)`);
  await client.metadata.refreshKeyspace(ks);
  const ring = [];
  for (const h of client.hosts.values()) {
    for (const t of h.tokens) ring.push([BigInt(t), h.address]);
  }
  ring.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const owner = (t) => (ring.find(([tok]) => tok >= t) || ring[0])[1];
  const perHost = new Map();
  for (let k = 0; k < 60; k++) {
    const rs = await exec(`INSERT INTO ${ks}.t (k, v) VALUES (?, ?)`, [k, k]);
    const tok = BigInt((await exec(`SELECT token(k) AS t FROM ${ks}.t WHERE k = ?`, [k])).first().t.toString());
    const want = owner(tok);
    assert.equal(rs.info.queriedHost, want, `k=${k} (token ${tok})`);
    const key = Buffer.alloc(4);
    key.writeInt32BE(k);
    const replicas = client.metadata.getReplicas(ks, key).map((h) => h.address);
    assert.deepEqual(replicas, [want], `driver's replicas of k=${k}`);
    perHost.set(want, (perHost.get(want) || 0) + 1);
  }
  assert.equal(perHost.size, nodes, `60 keys landed on ${[...perHost.keys()]}`);
}

const checks = [
  ['connect_and_discover_peers', checkConnect],
  ['create_keyspace_table_schema_agreement', checkSchema],
  ['metadata_get_table', checkTableMetadata],
  ['prepared_every_type', checkEveryType],
  ['paging_5500_rows', checkPaging],
  ['batches', checkBatches],
  ['consistency_one_quorum_all', checkConsistency],
  ['error_syntax', checkErrors],
  ['error_unavailable', checkUnavailable],
  ['lwt_insert_update_serial', checkLWT],
  ['token_aware_routing', checkTokenAware],
];

let passed = 0, failed = 0, connected = false;
for (const [name, fn] of checks) {
  const start = Date.now();
  try {
    if (name !== 'connect_and_discover_peers' && !connected) throw new Error('no connection');
    await fn();
    if (fn === checkConnect) connected = true;
    passed++;
    console.log(`ok ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    if (fn === checkConnect) connected = client.hosts.length > 0;
    failed++;
    console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split('\n').join(' ')}`);
  }
}
await client.shutdown();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
