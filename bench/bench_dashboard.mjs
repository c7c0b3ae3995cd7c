// Dashboard and metrics benchmark (item `dashboard` of bench/run.sh; see
// docs/benchmarks.md, "Dashboard and metrics").
//
// Starts a real `sibyl demo` of 10 nodes (release build, simulator writing),
// then measures, in this order:
//
//   1. the node side: GET /metrics and GET /api/v1/stats on one node of the
//      cluster, N sequential requests each over one keep-alive connection
//      (round trip on loopback = render + transfer), p50/p99 and body size;
//      then the CPU of the demo's process tree (nodes + simulator) over S
//      seconds without a page, to compare with the same while it polls;
//   2. the page: the dashboard in Debian's headless chromium (driven by
//      playwright-core from tests/browser's install) at 1440x900, a location
//      picked in the sensor chart, all nodes up; then over a window of S
//      seconds the renderer's main-thread busy share and script share
//      (Chrome DevTools Protocol Performance.getMetrics: TaskDuration,
//      ScriptDuration against Timestamp), JSHeapUsedSize and Nodes (sampled
//      every second), the CPU of every chromium process (/proc), and the
//      round trip of the page's own polls (Resource Timing entries); then N
//      fetches of one node's /api/v1/stats from the page, one at a time;
//   3. the time from stopping the last node (demo control POST
//      /api/v1/demo/nodes/<n>/stop, SIGKILL) to its row showing
//      `unreachable` (its HTTP address stops answering) and `down` (the
//      serving node's failure detector).
//
// Prints progress lines ("# ...") and one figure line per measurement,
// which --out appends to a file. Every wait is bounded; the demo (and any
// node it started) is stopped by PID in every case: SIGTERM, SIGKILL after
// 30 s (tests/browser/demo.mjs, reused as is).
//
//   node bench/bench_dashboard.mjs [--sibyl build/sibyl] [--nodes 10]
//       [--sensors 100] [--rate 100] [--seconds 30] [--requests 200]
//       [--out FILE]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const t0 = Date.now();

function usage(msg) {
  process.stderr.write(`bench_dashboard: ${msg}\nusage: node bench/bench_dashboard.mjs [--sibyl PATH] `
    + '[--nodes N] [--sensors K] [--rate R] [--seconds S] [--requests N] [--out FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { sibyl: 'build/sibyl', nodes: 10, sensors: 100, rate: 100, seconds: 30, requests: 200, out: null };
  const ints = new Set(['nodes', 'sensors', 'rate', 'seconds', 'requests']);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(k in a)) usage(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    if (v === undefined) usage(`${argv[i - 1]} needs a value`);
    if (ints.has(k)) {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) usage(`${argv[i - 1]} must be a positive integer, not "${v}"`);
      a[k] = n;
    } else {
      a[k] = v;
    }
  }
  if (a.nodes < 2 || a.nodes > 32) usage('--nodes must be 2..32');
  return a;
}

const args = parseArgs(process.argv.slice(2));
// tests/browser/demo.mjs reads SIBYL_BIN when it is loaded.
process.env.SIBYL_BIN = path.resolve(args.sibyl);
const { Demo, sleep, waitFor } = await import(path.join(ROOT, 'tests/browser/demo.mjs'));
let chromium;
try {
  ({ chromium } = createRequire(path.join(ROOT, 'tests/browser/package.json'))('playwright-core'));
} catch (e) {
  usage(`playwright-core is not installed in tests/browser (run "cd tests/browser && npm ci"): ${e.message}`);
}

function log(msg) {
  process.stdout.write(`# [${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}\n`);
}

// Nearest-rank percentile of an ascending array.
function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const ms = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mb = (b) => (b / 1048576).toFixed(1);

// One GET over `agent` (keep-alive): time to the last body byte.
function timedGet(url, agent) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = http.get(url, { agent, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const t = Number(process.hrtime.bigint() - start) / 1e6;
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${body.toString().slice(0, 200)}`));
        else resolve({ ms: t, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    req.on('error', reject);
  });
}

async function endpoint(url, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await timedGet(url, agent); // connect and warm up
    const times = [];
    let bytes = 0;
    let body = null;
    for (let i = 0; i < n; i++) {
      const r = await timedGet(url, agent);
      times.push(r.ms);
      bytes += r.body.length;
      body = r.body;
    }
    times.sort((x, y) => x - y);
    return { p50: pct(times, 50), p99: pct(times, 99), max: times[times.length - 1], avgBytes: bytes / n, body };
  } finally {
    agent.destroy();
  }
}

// CPU seconds (user + system) of every process below `roots` (pids).
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function treeCpuSeconds(roots) {
  const children = new Map();
  const ticks = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(d);
    const ppid = Number(f[1]);
    ticks.set(pid, Number(f[11]) + Number(f[12])); // utime, stime
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  let sum = 0;
  const todo = [...roots];
  const seen = new Set();
  while (todo.length) {
    const p = todo.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    sum += ticks.get(p) || 0;
    todo.push(...(children.get(p) || []));
  }
  return { seconds: sum / CLK_TCK, processes: seen.size };
}

// Our children that are not the demo: the browser (the launcher script's
// chromium and everything it started).
function browserRoots(demoPid) {
  const roots = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === demoPid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(f[1]) === process.pid && /chrom/.test(comm)) roots.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return roots;
}

const figures = [];
function figure(line) {
  figures.push(line);
  process.stdout.write(`${line}\n`);
}

let demo;
let browser;
let tmp;
let failed = false;
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    if (browser) await browser.close().catch(() => {});
    if (demo) await demo.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    log('demo stopped');
  })();
  return cleaning;
}
// `timeout` (run.sh) or Ctrl-C: stop the demo and the browser before leaving.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    cleanup().finally(() => process.exit(130));
  });
}
try {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/deps.sh)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sibyl-bench-dash-'));
  const n = args.nodes;
  demo = new Demo({
    nodes: n, dataDir: path.join(tmp, 'demo'),
    extraArgs: ['--sensors', String(args.sensors), '--rate', String(args.rate)],
  });
  await demo.start();
  log(`demo: ${n} nodes, ${args.sensors} sensors, ${args.rate} readings/s, offset ${demo.offset}, `
    + `${path.relative(ROOT, process.env.SIBYL_BIN)}`);
  await demo.waitOutput(/Press Ctrl-C to stop/, 240000);
  await demo.waitOutput(/sim: [1-9]\d* points sent/, 120000);
  await waitFor(async () => (await demo.status()).nodes.length === n, {
    timeoutMs: 20000, what: `GET ${demo.control}/api/v1/demo with ${n} nodes`,
  });
  let seen;
  await waitFor(async () => {
    seen = (await demo.getJSON(`http://${demo.http(1)}/api/v1/cluster`)).nodes || [];
    return seen.length === n && seen.every((x) => x.state === 'up' && x.status === 'NORMAL');
  }, {
    timeoutMs: 120000,
    what: () => `${n} nodes NORMAL and up in node 1's /api/v1/cluster: ${JSON.stringify((seen || []).map((x) => [x.listen, x.status, x.state]))}`,
  });
  log(`cluster: ${n} nodes NORMAL and up`);
  await sleep(5000); // a few seconds of simulator traffic: every label set exists

  // --- 1. node side ---------------------------------------------------------
  const target = 2; // not the node serving the page
  for (const [name, p] of [['metrics', '/metrics'], ['stats', '/api/v1/stats']]) {
    const r = await endpoint(`http://${demo.http(target)}${p}`, args.requests);
    let extra = '';
    if (name === 'metrics') {
      const lines = r.body.toString().split('\n');
      const samples = lines.filter((l) => l && !l.startsWith('#')).length;
      const families = lines.filter((l) => l.startsWith('# TYPE ')).length;
      extra = `, ${samples} samples in ${families} metric families`;
    } else {
      const j = JSON.parse(r.body.toString());
      extra = `, ${j.requests.length} coordinator + ${j.replica.length} replica histograms, ${j.peers.length} peers`;
    }
    figure(`${name}-endpoint: GET ${p} on node ${target} of a ${n}-node demo: p50 ${ms(r.p50)} ms, `
      + `p99 ${ms(r.p99)} ms, max ${ms(r.max)} ms over ${args.requests} sequential keep-alive requests `
      + `(loopback round trip: render + transfer); body ${Math.round(r.avgBytes)} bytes${extra}`);
  }

  // The cluster's own CPU (every node and the simulator) without a page, to
  // compare with the same window while the page polls.
  const demoRoots = [demo.proc.pid];
  const idle0 = treeCpuSeconds(demoRoots);
  const idleWall0 = Date.now();
  await sleep(args.seconds * 1000);
  const idleCores = (treeCpuSeconds(demoRoots).seconds - idle0.seconds) / ((Date.now() - idleWall0) / 1000);
  log(`cluster without the page: ${idleCores.toFixed(2)} cores (${idle0.processes} processes), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  // --- 2. the page ------------------------------------------------------------
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  let pageErrors = 0;
  page.on('pageerror', (e) => {
    pageErrors++;
    log(`page error: ${e.message}`);
  });
  const resp = await page.goto(demo.dashboard, { waitUntil: 'load', timeout: 60000 });
  if (resp.status() !== 200) throw new Error(`GET ${demo.dashboard}: HTTP ${resp.status()}`);
  const rows = () => page.evaluate(() => [...document.querySelectorAll('[data-testid="node-row"]')]
    .map((r) => ({ node: r.getAttribute('data-node'), state: r.getAttribute('data-state') })));
  let last;
  await waitFor(async () => {
    last = await rows();
    return last.length === n && last.every((r) => r.state === 'up');
  }, { timeoutMs: 120000, what: () => `${n} node-rows up on the page: ${JSON.stringify(last)}` });
  log(`page: ${n} node-rows up`);
  const sel = page.getByTestId('sensor-select');
  let loc;
  await waitFor(async () => (loc = await sel.locator('option').evaluateAll(
    (os) => (os.find((o) => o.value.startsWith('loc:')) || {}).value)), {
    timeoutMs: 60000, what: 'a location option in sensor-select',
  });
  await sel.selectOption(loc);
  const chart = page.getByTestId('sensor-chart');
  let pts = 0;
  await waitFor(async () => (pts = Number(await chart.getAttribute('data-points'))) > 0, {
    timeoutMs: 60000, what: () => `sensor-chart data-points > 0 for ${loc} (it is ${pts})`,
  });
  log(`page: chart shows ${loc} (${pts} points); settling 5 s`);
  await sleep(5000);

  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics
    .map((m) => [m.name, m.value]));
  await page.evaluate(() => {
    performance.setResourceTimingBufferSize(1000000);
    performance.clearResourceTimings();
  });
  const roots = browserRoots(demo.proc.pid);
  const cpu0 = treeCpuSeconds(roots);
  const dcpu0 = treeCpuSeconds(demoRoots);
  const wall0 = Date.now();
  const m0 = await metrics();
  const heap = [];
  const nodes = [];
  const deadline = wall0 + args.seconds * 1000;
  while (Date.now() < deadline) {
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
    const m = await metrics();
    heap.push(m.JSHeapUsedSize);
    nodes.push(m.Nodes);
  }
  const m1 = await metrics();
  const cpu1 = treeCpuSeconds(roots);
  const dcpu1 = treeCpuSeconds(demoRoots);
  const wall = (Date.now() - wall0) / 1000;
  const docNodes = await page.evaluate(() => document.getElementsByTagName('*').length);
  const entries = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((e) => ({ name: e.name, d: e.duration })));
  const span = m1.Timestamp - m0.Timestamp;
  const share = (k) => (100 * (m1[k] - m0[k])) / span;
  const chromeCores = (cpu1.seconds - cpu0.seconds) / wall;
  figure(`dashboard-page: renderer main thread busy ${share('TaskDuration').toFixed(1)}% of a core `
    + `(script ${share('ScriptDuration').toFixed(1)}%, layout ${share('LayoutDuration').toFixed(1)}%, `
    + `style ${share('RecalcStyleDuration').toFixed(1)}%) over ${Math.round(span)} s with ${n} nodes polled `
    + `each second; all chromium processes ${chromeCores.toFixed(2)} cores (${cpu1.processes}); `
    + `JS heap used ${mb(m1.JSHeapUsedSize)} MB (max ${mb(Math.max(...heap))} MB); DOM nodes ${m1.Nodes} `
    + `(max ${Math.max(...nodes)}; ${docNodes} elements in the document); 1440x900, headless chromium, `
    + `sensor chart on ${loc}`);
  const busyCores = (dcpu1.seconds - dcpu0.seconds) / wall;
  figure(`dashboard-cluster-cost: the ${n} nodes + simulator used ${busyCores.toFixed(2)} cores while the page `
    + `polled, ${idleCores.toFixed(2)} cores without it (difference ${(busyCores - idleCores).toFixed(2)} cores, `
    + `${(((busyCores - idleCores) / n) * 1000).toFixed(0)} ms of CPU per node per second; ${args.seconds} s windows)`);
  const api = entries.filter((e) => /\/api\/v1\//.test(e.name));
  const stats = api.filter((e) => /\/api\/v1\/stats(\?|$)/.test(e.name)).map((e) => e.d).sort((x, y) => x - y);
  const all = api.map((e) => e.d).sort((x, y) => x - y);
  if (!stats.length) throw new Error(`no /api/v1/stats fetches in the page's Resource Timing (${entries.length} entries)`);
  figure(`dashboard-poll: GET /api/v1/stats from the page p50 ${ms(pct(stats, 50))} ms, p99 ${ms(pct(stats, 99))} ms `
    + `(${stats.length} fetches of ${n} nodes in ${Math.round(wall)} s, Resource Timing); every API fetch p50 `
    + `${ms(pct(all, 50))} ms, p99 ${ms(pct(all, 99))} ms (${(all.length / wall).toFixed(1)} fetches/s)`);

  // The same request one at a time from the page, outside the poll bursts'
  // queueing (the page keeps polling meanwhile).
  const direct = await page.evaluate(async ({ url, count }) => {
    const t = [];
    for (let i = 0; i < count; i++) {
      const s = performance.now();
      const r = await fetch(url, { cache: 'no-store' });
      await r.arrayBuffer();
      t.push(performance.now() - s);
    }
    return t;
  }, { url: `http://${demo.http(target)}/api/v1/stats`, count: args.requests });
  direct.sort((x, y) => x - y);
  figure(`dashboard-fetch: fetch() of node ${target}'s /api/v1/stats from the page, one at a time: p50 `
    + `${ms(pct(direct, 50))} ms, p99 ${ms(pct(direct, 99))} ms (${direct.length} requests, cross-origin, `
    + `while the page polls)`);

  // --- 3. a node stopped --------------------------------------------------------
  const victim = demo.listen(n);
  const stopAt = Date.now();
  const r = await fetch(`${demo.control}/api/v1/demo/nodes/${n}/stop`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    signal: AbortSignal.timeout(10000),
  });
  if (!r.ok) throw new Error(`POST ${demo.control}/api/v1/demo/nodes/${n}/stop: HTTP ${r.status}: ${await r.text()}`);
  let unreachableAt = null;
  let downAt = null;
  let state;
  await waitFor(async () => {
    state = (await rows()).find((x) => x.node === victim)?.state;
    if (state !== 'up' && unreachableAt === null) unreachableAt = Date.now();
    if (state === 'down') downAt = Date.now();
    return downAt !== null;
  }, { timeoutMs: 90000, intervalMs: 100, what: () => `the row of ${victim} to turn down (it is ${state})` });
  const gossip = Demo.supports('--gossip-interval-ms') ? 'the demo\'s gossip interval (500 ms)' : 'gossip 1000 ms';
  figure(`dashboard-node-down: node ${n} of ${n} killed (POST /api/v1/demo/nodes/${n}/stop) -> its row `
    + `not up after ${((unreachableAt - stopAt) / 1000).toFixed(1)} s (unreachable: its HTTP address stops `
    + `answering), down after ${((downAt - stopAt) / 1000).toFixed(1)} s (failure detector, ${gossip}, phi 8)`);
  if (pageErrors) throw new Error(`${pageErrors} page errors`);
} catch (e) {
  failed = true;
  process.stderr.write(`bench_dashboard: ${e.stack || e.message}\n`);
  if (demo) process.stderr.write(`demo output (last lines):\n${demo.output.slice(-2000)}\n`);
} finally {
  await cleanup();
}
if (args.out && figures.length) fs.appendFileSync(args.out, figures.map((l) => `${l}\n`).join(''));
process.exit(failed ? 1 : 0);
