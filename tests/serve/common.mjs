// Shared by the owl serve acceptance tests (scripts/test-serve runs them): configuration from
// the environment, a tiny sequential test runner, the OpenAI client, /metrics parsing, and
// starting extra `owl serve` processes.
//
// Environment (set by scripts/test-serve):
//   OWL_URL         base URL of the running server, e.g. http://127.0.0.1:41234
//   OWL_API_KEY     its API key
//   OWL_SERVER_PID  its process id (RSS is read from /proc/PID/status)
//   OWL_BIN         the owl binary (tests that need a differently configured server start one)
//   OWL_MODEL       the model folder the server runs
import { spawn } from "node:child_process";
import http from "node:http";
import { readFileSync } from "node:fs";
import OpenAI from "openai";

export const URL_BASE = process.env.OWL_URL ?? "http://127.0.0.1:8080";
export const API_KEY = process.env.OWL_API_KEY ?? "";
export const SERVER_PID = Number(process.env.OWL_SERVER_PID ?? 0);
export const OWL_BIN = process.env.OWL_BIN ?? "build/release/owl";
export const OWL_MODEL = process.env.OWL_MODEL ?? "models/stories260K";

export function client(options = {}) {
  return new OpenAI({ baseURL: `${options.url ?? URL_BASE}/v1`, apiKey: options.apiKey ?? API_KEY,
                      maxRetries: 0, timeout: 120_000, ...options.extra });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- a sequential test runner: test(name, fn) registers, run() runs and reports ----------
const tests = [];
export function test(name, fn) { tests.push({ name, fn }); }

export async function run(suite) {
  let passed = 0, failed = 0;
  for (const { name, fn } of tests) {
    const t0 = performance.now();
    try {
      await fn();
      passed++;
      console.log(`  ok   ${suite}: ${name} (${Math.round(performance.now() - t0)} ms)`);
    } catch (e) {
      failed++;
      console.log(`  FAIL ${suite}: ${name}: ${e?.stack ?? e}${e?.cause ? `\n    cause: ${e.cause?.stack ?? e.cause}` : ""}`);
    }
  }
  // scripts/test-serve adds these up.
  console.log(`serve-results ${suite} ${passed} ${failed}`);
  process.exitCode = failed ? 1 : 0;
}

// ---- HTTP helpers ----------------------------------------------------------------------------
export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${API_KEY}`, ...extra };
}

// fetch with a JSON (or raw string) body; returns {status, headers, text, json}.
export async function post(path, body, { headers = authHeaders({ "Content-Type": "application/json" }), url = URL_BASE, signal } = {}) {
  const res = await fetch(url + path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body), signal });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

// A POST on a connection of its own (node:http, no keep-alive pool): for misbehaving clients,
// so that their connections are not shared with well-behaved ones. (undici, behind fetch and
// the openai client, may reuse a pooled socket that a server closes after answering 413 to an
// upload still in progress: the next request on it fails with "other side closed".)
export function isolatedPost(path, body, { headers = authHeaders({ "Content-Type": "application/json" }), url = URL_BASE } = {}) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: "POST", agent: false,
                               headers: { ...headers, "Content-Length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { text += d; });
      res.on("end", () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

// /metrics as a Map from "name{labels}" (labels as printed) to a number.
export async function metrics(url = URL_BASE) {
  const res = await fetch(url + "/metrics", { headers: authHeaders() });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const map = new Map();
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

export function requestCount(m, route, status) {
  return m.get(`owl_requests_total{route="${route}",status="${status}"}`) ?? 0;
}

// Polls /metrics until active requests, queue depth and KV-cache use are all 0.
export async function waitIdle(seconds = 5, url = URL_BASE) {
  const deadline = Date.now() + seconds * 1000;
  let m;
  for (;;) {
    m = await metrics(url);
    if (m.get("owl_active_requests") === 0 && m.get("owl_queue_depth") === 0 && m.get("owl_kv_cache_used_tokens") === 0)
      return m;
    if (Date.now() > deadline)
      throw new Error(`server not idle after ${seconds} s: active ${m.get("owl_active_requests")}, queued ` +
                      `${m.get("owl_queue_depth")}, kv ${m.get("owl_kv_cache_used_tokens")}`);
    await sleep(50);
  }
}

// Resident set size of a process in bytes (Linux).
export function rssBytes(pid = SERVER_PID) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

// ---- requests as the tests make them -----------------------------------------------------------
// Streams a chat completion; returns what a client sees.
export async function streamChat(c, params, requestOptions) {
  const stream = await c.chat.completions.create({ ...params, stream: true }, requestOptions);
  const out = { text: "", chunks: [], finish: null, usage: null, firstRole: undefined, ids: new Set() };
  for await (const chunk of stream) {
    out.chunks.push(chunk);
    out.ids.add(chunk.id);
    if (chunk.usage) out.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (out.firstRole === undefined) out.firstRole = choice.delta?.role ?? null;
      if (choice.delta?.content) out.text += choice.delta.content;
      if (choice.finish_reason) out.finish = choice.finish_reason;
    }
  }
  return out;
}

export async function streamCompletion(c, params, requestOptions) {
  const stream = await c.completions.create({ ...params, stream: true }, requestOptions);
  const out = { text: "", chunks: [], finish: null, usage: null };
  for await (const chunk of stream) {
    out.chunks.push(chunk);
    if (chunk.usage) out.usage = chunk.usage;
    for (const choice of chunk.choices) {
      out.text += choice.text ?? "";
      if (choice.finish_reason) out.finish = choice.finish_reason;
    }
  }
  return out;
}

// A request spec {kind: "chat"|"completion", ...params} streamed; {text, finish, usage}.
export async function streamSpec(c, spec, requestOptions) {
  const { kind, ...params } = spec;
  const r = kind === "chat" ? await streamChat(c, params, requestOptions) : await streamCompletion(c, params, requestOptions);
  return { text: r.text, finish: r.finish, usage: r.usage };
}

// Retries a request that got 429, after Retry-After seconds; returns [result, number of 429s].
export async function with429Retry(fn, { maxTries = 120 } = {}) {
  let refused = 0;
  for (;;) {
    try {
      return [await fn(), refused];
    } catch (e) {
      if (!(e instanceof OpenAI.RateLimitError) || refused >= maxTries) throw e;
      refused++;
      const after = Number(e.headers?.get?.("retry-after") ?? 1);
      await sleep((Number.isFinite(after) ? after : 1) * 1000 * (0.5 + Math.random() / 2));
    }
  }
}

// ---- extra servers -----------------------------------------------------------------------------
// Starts `owl serve` on a free loopback port (--port 0) and waits for its ready line.
export async function startServer(args = [], { timeoutMs = 60_000 } = {}) {
  const proc = spawn(OWL_BIN, ["serve", OWL_MODEL, "--host", "127.0.0.1", "--port", "0", ...args],
                     { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`owl serve not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
    proc.stderr.on("data", (d) => {
      log += d;
      const m = /owl serve: listening on (http:\/\/\S+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`owl serve exited with ${code}:\n${log}`)); });
  });
  proc.removeAllListeners("exit");
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    url, proc, log: () => log,
    // SIGTERM; resolves to the exit code (a signal death is reported as its name).
    async stop(timeoutMs = 20_000) {
      proc.kill("SIGTERM");
      const r = await Promise.race([exited, sleep(timeoutMs).then(() => null)]);
      if (r === null) { proc.kill("SIGKILL"); return "hung"; }
      return r.signal ?? r.code;
    },
  };
}

// Distinct requests (temperature 0) for the load and chaos tests: chat and completions, with
// usage reported at the end of each stream.
export const SPECS = [
  ["chat", "Tell me a story about a brave little mouse.", 48],
  ["chat", "What did the dog find in the garden?", 64],
  ["chat", "Write about a girl who loves to sing.", 32],
  ["chat", "Why is the sky blue?", 56],
  ["chat", "Once there was a big red ball.", 40],
  ["chat", "Tom and Sue went to the beach.", 64],
  ["completion", "Once upon a time", 60],
  ["completion", "The little bird wanted to fly", 36],
].map(([kind, text, max_tokens]) => kind === "chat"
  ? { kind, model: "stories260K", messages: [{ role: "user", content: text }], max_tokens, temperature: 0,
      stream_options: { include_usage: true } }
  : { kind, model: "stories260K", prompt: text, max_tokens, temperature: 0, stream_options: { include_usage: true } });

export const routeOf = (spec) => (spec.kind === "chat" ? "/v1/chat/completions" : "/v1/completions");
