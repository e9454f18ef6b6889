#!/usr/bin/env node
// bench/serve/run.mjs — throughput and latency of `owl serve` under concurrent streaming clients.
//
//   node bench/serve/run.mjs [--owl build/release/owl] [--model models/stories260K]
//                            [--seconds 20] [--max-tokens 128] [--levels 1,4,16] [--threads N]
//
// Starts `owl serve MODEL --parallel 16` on a free loopback port, then for each concurrency level
// runs that many clients for --seconds, each looping streamed /v1/completions requests (distinct
// prompts, temperature 0, max_tokens --max-tokens) back to back. Reports, per level:
//   - aggregate generated tokens/s: the completion tokens of all requests finished in the
//     window (stream_options.include_usage), divided by the window;
//   - median and p90 time to first token: from sending the request to the first text chunk;
//   - requests/s.
// Prints a markdown table (and the machine) to stdout. No dependencies beyond Node.js >= 20.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const OWL = args.owl ?? "build/release/owl";
const MODEL = args.model ?? "models/stories260K";
const SECONDS = Number(args.seconds ?? 20);
const MAX_TOKENS = Number(args["max-tokens"] ?? 128);
const LEVELS = (args.levels ?? "1,4,16").split(",").map(Number);
const PARALLEL = 16;
const PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went to the park", "One day, a girl named Sue",
                 "The sun was shining and", "Tom had a big red ball", "In a small house there lived", "The cat saw a bird"];

async function startServer() {
  const extra = args.threads ? ["--threads", args.threads] : [];
  const proc = spawn(OWL, ["serve", MODEL, "--port", "0", "--parallel", String(PARALLEL), "--queue", "256", ...extra],
                     { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      log += d;
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`owl serve exited (${code}): ${log}`)));
  });
  return { url, proc };
}

// One streamed completion; returns {ttft (s), tokens, end (ms)}.
async function streamOnce(url, prompt) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  let ttft = null, tokens = 0, buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let at;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6));
      if (ttft === null && chunk.choices?.[0]?.text) ttft = (performance.now() - t0) / 1000;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { ttft, tokens, end: performance.now() };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

async function level(url, clients) {
  // A short warm-up at this concurrency, then the measured window.
  const run = async (seconds) => {
    const start = performance.now(), deadline = start + seconds * 1000;
    const results = [];
    await Promise.all(Array.from({ length: clients }, async (_, id) => {
      for (let i = 0; performance.now() < deadline; i++) results.push(await streamOnce(url, PROMPTS[(id + i) % PROMPTS.length]));
    }));
    return { results, elapsed: (performance.now() - start) / 1000 };
  };
  await run(Math.min(2, SECONDS));
  const { results, elapsed } = await run(SECONDS);
  const tokens = results.reduce((a, r) => a + r.tokens, 0);
  const ttfts = results.map((r) => r.ttft).filter((t) => t !== null);
  return { clients, requests: results.length, elapsed, tokensPerSecond: tokens / elapsed,
           ttftMedian: quantile(ttfts, 0.5), ttftP90: quantile(ttfts, 0.9), requestsPerSecond: results.length / elapsed };
}

const cpu = (/model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8")) ?? [])[1] ?? os.cpus()[0]?.model ?? "unknown";
const server = await startServer();
try {
  const rows = [];
  for (const clients of LEVELS) {
    const r = await level(server.url, clients);
    rows.push(r);
    process.stderr.write(`concurrency ${clients}: ${r.tokensPerSecond.toFixed(0)} tokens/s, TTFT median ${(r.ttftMedian * 1000).toFixed(1)} ms\n`);
  }
  console.log(`Model ${MODEL}, owl serve --parallel ${PARALLEL}${args.threads ? ` --threads ${args.threads}` : ""}; ` +
              `streamed /v1/completions, temperature 0, max_tokens ${MAX_TOKENS}, ${SECONDS} s per level; ` +
              `${os.cpus().length} CPUs (nproc), ${cpu}.\n`);
  console.log("| concurrent clients | generated tokens/s (aggregate) | requests/s | TTFT median (ms) | TTFT p90 (ms) |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const r of rows)
    console.log(`| ${r.clients} | ${r.tokensPerSecond.toFixed(0)} | ${r.requestsPerSecond.toFixed(1)} | ` +
                `${(r.ttftMedian * 1000).toFixed(1)} | ${(r.ttftP90 * 1000).toFixed(1)} |`);
} finally {
  server.proc.kill("SIGTERM");
}
