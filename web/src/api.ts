// HTTP helpers: every request has its own 900 ms deadline (AbortController),
// so a node that does not answer costs one poll slot, never a pile-up.

export const TIMEOUT_MS = 900;

export type Result<T> =
  | { ok: true; data: T; dateHeader: string | null }
  | { ok: false; kind: "unreachable" | "notfound" | "error"; status: number; message: string };

/** Base URL ("http://127.0.0.2:8080") for a host:port as the nodes report it. */
export function baseOf(hostport: string, fallbackHost?: string): string {
  let hp = hostport;
  // A node listening on every interface reports 0.0.0.0 / [::]: use its host.
  const m = /^(0\.0\.0\.0|\[::\]|::):(\d+)$/.exec(hp);
  if (m && fallbackHost) hp = `${fallbackHost}:${m[2]}`;
  return `${location.protocol === "https:" ? "https:" : "http:"}//${hp}`;
}

export async function request<T>(
  url: string,
  init?: { method?: string; body?: unknown; timeoutMs?: number },
): Promise<Result<T>> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), init?.timeoutMs ?? TIMEOUT_MS);
  try {
    const resp = await fetch(url, {
      method: init?.method ?? "GET",
      signal: ctl.signal,
      cache: "no-store",
      headers: init?.body !== undefined ? { "Content-Type": "application/json" } : undefined,
      body: init?.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
    const text = await resp.text();
    if (!resp.ok) {
      let message = `HTTP ${resp.status}`;
      try {
        const e = JSON.parse(text) as { error?: { message?: string } };
        if (e.error?.message) message = e.error.message;
      } catch {
        /* not JSON: keep the status */
      }
      return { ok: false, kind: resp.status === 404 ? "notfound" : "error", status: resp.status, message };
    }
    return { ok: true, data: JSON.parse(text) as T, dateHeader: resp.headers.get("date") };
  } catch (e) {
    const aborted = ctl.signal.aborted;
    return {
      ok: false,
      kind: "unreachable",
      status: 0,
      // fetch() says only "Failed to fetch": refused, reset, unknown host
      // or blocked by CORS all look alike to a page.
      message: aborted ? `no answer within ${init?.timeoutMs ?? TIMEOUT_MS} ms` : e instanceof TypeError ? "cannot connect" : String(e),
    };
  } finally {
    clearTimeout(timer);
  }
}

export function getJson<T>(url: string): Promise<Result<T>> {
  return request<T>(url);
}

export function postJson<T>(url: string, body: unknown, timeoutMs?: number): Promise<Result<T>> {
  return request<T>(url, { method: "POST", body, timeoutMs });
}

/** Runs fn about every periodMs; a run never starts before the previous one ended. */
export function every(periodMs: number, fn: () => Promise<void>): void {
  const tick = async () => {
    const start = performance.now();
    try {
      await fn();
    } catch (e) {
      console.warn("poll failed", e);
    }
    const wait = Math.max(50, periodMs - (performance.now() - start));
    setTimeout(tick, wait);
  };
  void tick();
}
