// A real `sibyl demo` (3 nodes + the simulator) for the browser tests.
//
// Node i listens on 127.0.0.i with the fixed ports shifted by a random
// --port-offset K (7000+K gossip, 9042+K CQL, 8080+K HTTP) and the demo's
// control server on 127.0.0.1:8079+K, so a test never collides with a demo
// someone is running. Every wait is bounded; stop() sends SIGTERM to the demo
// and SIGKILL after a bounded wait, then makes sure no node the demo started
// (their PIDs come from its banner and its control server) outlives it.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(ROOT, process.env.SIBYL_BIN || 'build/asan/sibyl');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// p's value, or null after ms (the timer never keeps the process alive).
function within(p, ms) {
  let timer;
  const t = new Promise((r) => { timer = setTimeout(() => r(null), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function portFree(host, port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

// Like tests/integration/cluster.py pick_offset: a random K whose ports are
// free on every node address (and the control port on 127.0.0.1).
export async function pickOffset(nodes) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const k = 10000 + Math.floor(Math.random() * 35000);
    let ok = await portFree('127.0.0.1', 8079 + k);
    for (let i = 1; ok && i <= nodes; i++) {
      for (const base of [7000, 8080, 9042]) {
        if (!(await portFree(`127.0.0.${i}`, base + k))) {
          ok = false;
          break;
        }
      }
    }
    if (ok) return k;
  }
  throw new Error('no free port offset after 50 tries');
}

// Polls fn() every intervalMs until it returns a truthy value or timeoutMs
// passes; then throws with what(), which should say what was last seen. An
// error thrown by fn() counts as "not yet" unless it has .fatal set.
export async function waitFor(fn, { timeoutMs, intervalMs = 250, what }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() >= deadline) {
      const seen = typeof what === 'function' ? await what(last) : what;
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${seen}`);
    }
    await sleep(intervalMs);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1][0] !== 'Z';
  } catch {
    return false;
  }
}

export class Demo {
  constructor({ nodes = 3, dataDir, extraArgs = [] }) {
    this.nodes = nodes;
    this.dataDir = dataDir;
    this.extraArgs = extraArgs;
    this.pids = new Set();
    this.output = '';
  }

  // demo --help lists the options this build has: the gossip interval is
  // passed through only when the demo supports it.
  static supports(option) {
    try {
      const help = execFileSync(BIN, ['demo', '--help'], { encoding: 'utf8', timeout: 20000 });
      return help.includes(option);
    } catch {
      return false;
    }
  }

  async start() {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} does not exist: build it first (make)`);
    this.offset = await pickOffset(this.nodes);
    this.httpPort = 8080 + this.offset;
    this.listenPort = 7000 + this.offset;
    this.dashboard = `http://127.0.0.1:${this.httpPort}/`;
    this.control = `http://127.0.0.1:${8079 + this.offset}`;
    const args = ['demo', '--nodes', String(this.nodes), '--data', this.dataDir,
      '--port-offset', String(this.offset), '--status', '5', ...this.extraArgs];
    this.logPath = `${this.dataDir}.out`;
    this.log = fs.openSync(this.logPath, 'w');
    const env = { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=0' };
    this.proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, sig) => resolve({ code, sig })));
    const collect = (chunk) => {
      this.output += chunk.toString();
      if (this.log !== undefined) fs.writeSync(this.log, chunk);
      for (const m of this.output.matchAll(/ pid (\d+)/g)) this.pids.add(Number(m[1]));
    };
    this.proc.stdout.on('data', collect);
    this.proc.stderr.on('data', collect);
  }

  listen(i) {
    return `127.0.0.${i}:${this.listenPort}`;
  }

  http(i) {
    return `127.0.0.${i}:${this.httpPort}`;
  }

  async waitOutput(re, timeoutMs) {
    return waitFor(() => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        const e = new Error(`the demo exited (${this.proc.exitCode ?? this.proc.signalCode}) `
          + `before printing ${re}:\n${this.output.slice(-3000)}`);
        e.fatal = true;
        throw e;
      }
      return re.exec(this.output);
    }, { timeoutMs, what: () => `${re} in the demo output:\n${this.output.slice(-3000)}` });
  }

  async getJSON(url) {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}: ${await r.text()}`);
    return r.json();
  }

  // The control server's view (GET /api/v1/demo); records every node PID.
  async status() {
    const v = await this.getJSON(`${this.control}/api/v1/demo`);
    for (const n of v.nodes || []) if (n.pid) this.pids.add(n.pid);
    return v;
  }

  // What node `viewer` thinks of node `target`: "up", "down", ... or undefined.
  async stateSeenBy(viewer, target) {
    const v = await this.getJSON(`http://${this.http(viewer)}/api/v1/cluster`);
    const m = (v.nodes || []).find((n) => n.listen === this.listen(target));
    return m && m.state;
  }

  async stop() {
    if (!this.proc) return;
    try {
      await this.status();
    } catch {
      // the control server may be gone already; the banner PIDs remain
    }
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const done = await within(this.exited, 30000);
      if (!done) {
        this.output += '\n[browser test] the demo ignored SIGTERM for 30 s: SIGKILL\n';
        this.proc.kill('SIGKILL');
        await within(this.exited, 5000);
      }
    }
    // Nodes must not outlive the demo; kill only the PIDs it started.
    await waitFor(() => [...this.pids].every((p) => !alive(p)), {
      timeoutMs: 10000, what: 'the demo nodes to exit',
    }).catch(() => {
      for (const p of this.pids) {
        if (alive(p)) {
          this.output += `\n[browser test] node pid ${p} outlived the demo: SIGKILL\n`;
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
    });
    if (this.log !== undefined) fs.closeSync(this.log);
    this.log = undefined;
  }
}
