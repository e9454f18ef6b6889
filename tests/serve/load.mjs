// Load test of owl serve: 32 concurrent streaming clients for OWL_LOAD_SECONDS (60 by default),
// each looping over distinct requests at temperature 0.
//   - no failures, except 429s (the server runs with a small queue), which are retried after
//     Retry-After;
//   - every streamed text is identical to the same request run alone (collected sequentially
//     before the load): batching must not change a greedy result;
//   - memory stays flat: VmRSS after the load <= 1.2 x after the warm-up + 10 MB;
//   - /metrics agrees with the clients: requests by route and status, generated tokens; queue
//     depth, active requests and KV-cache use back to 0.
import assert from "node:assert/strict";
import { SPECS, client, metrics, requestCount, routeOf, rssBytes, run, sleep, streamSpec, test, waitIdle, with429Retry } from "./common.mjs";

const SECONDS = Number(process.env.OWL_LOAD_SECONDS ?? 60);
const CLIENTS = Number(process.env.OWL_LOAD_CLIENTS ?? 32);
const WARMUP_SECONDS = Math.min(5, SECONDS);
const c = client();

const references = [];

// Runs CLIENTS looping clients for `seconds`; returns what they saw.
async function hammer(seconds) {
  const seen = { ok: new Map(), refused: new Map(), tokens: 0, requests: 0, mismatches: [], errors: [] };
  const bump = (map, key, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
  const deadline = Date.now() + seconds * 1000;
  const one = async (id) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const k = (id * 3 + i) % SPECS.length;
      const spec = SPECS[k];
      try {
        const [r, refused] = await with429Retry(() => streamSpec(c, spec));
        bump(seen.refused, routeOf(spec), refused);
        bump(seen.ok, routeOf(spec));
        seen.requests++;
        seen.tokens += r.usage?.completion_tokens ?? 0;
        if (r.text !== references[k].text || r.finish !== references[k].finish || !r.usage ||
            r.usage.completion_tokens !== references[k].usage.completion_tokens)
          seen.mismatches.push({ spec: k, got: r.text, finish: r.finish, expected: references[k].text });
      } catch (e) {
        seen.errors.push(`client ${id}, request ${k}: ${e?.message ?? e}`);
        if (e?.status === 429) bump(seen.refused, routeOf(spec));  // gave up retrying
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => one(id)));
  return seen;
}

test("reference outputs, each request alone", async () => {
  await waitIdle(10);
  for (const spec of SPECS) {
    const r = await streamSpec(c, spec);
    assert.ok(r.text.length > 0 && r.usage, "empty reference");
    references.push(r);
  }
  // Run alone twice: the same (the references are deterministic).
  for (const [k, spec] of SPECS.entries()) assert.equal((await streamSpec(c, spec)).text, references[k].text);
  assert.equal(new Set(references.map((r) => r.text)).size, SPECS.length, "the requests are distinct");
});

test(`${CLIENTS} streaming clients for ${SECONDS} s: no failures, texts as alone, memory flat, metrics agree`, async () => {
  assert.equal(references.length, SPECS.length, "no references");
  // Warm-up: every slot used, allocations made, then settle.
  const warm = await hammer(WARMUP_SECONDS);
  assert.deepEqual(warm.errors, []);
  assert.equal(warm.mismatches.length, 0, `warm-up mismatches: ${JSON.stringify(warm.mismatches.slice(0, 3))}`);
  const before = await waitIdle(10);
  await sleep(200);
  const rss0 = rssBytes();

  const t0 = performance.now();
  const seen = await hammer(SECONDS - WARMUP_SECONDS > 0 ? SECONDS - WARMUP_SECONDS : SECONDS);
  const elapsed = (performance.now() - t0) / 1000;
  const after = await waitIdle(10);
  await sleep(200);
  const rss1 = rssBytes();

  const refused = [...seen.refused.values()].reduce((a, b) => a + b, 0);
  console.log(`       ${seen.requests} streams in ${elapsed.toFixed(1)} s (${(seen.requests / elapsed).toFixed(1)}/s, ` +
              `${(seen.tokens / elapsed).toFixed(0)} generated tokens/s), ${refused} refused with 429 and retried, ` +
              `${seen.mismatches.length} mismatches, ${seen.errors.length} errors; ` +
              `VmRSS ${(rss0 / 2 ** 20).toFixed(1)} -> ${(rss1 / 2 ** 20).toFixed(1)} MiB`);
  assert.deepEqual(seen.errors.slice(0, 5), [], `${seen.errors.length} failed requests`);
  assert.equal(seen.mismatches.length, 0, `${seen.mismatches.length} streams differ from their request alone, e.g. ` +
                                          JSON.stringify(seen.mismatches.slice(0, 2)));
  assert.ok(seen.requests >= CLIENTS, `only ${seen.requests} requests completed`);
  assert.ok(rss1 <= rss0 * 1.2 + 10 * 2 ** 20, `VmRSS grew from ${rss0} to ${rss1} bytes`);

  // /metrics: what the clients saw, by route and status.
  for (const route of ["/v1/chat/completions", "/v1/completions"]) {
    const d = (status) => requestCount(after, route, status) - requestCount(before, route, status);
    assert.equal(d(200), seen.ok.get(route) ?? 0, `${route} 200s`);
    assert.equal(d(429), seen.refused.get(route) ?? 0, `${route} 429s`);
    for (const status of [400, 500, 503]) assert.equal(d(status), 0, `${route} ${status}s`);
  }
  assert.equal(after.get("owl_generated_tokens_total") - before.get("owl_generated_tokens_total"), seen.tokens,
               "generated tokens: metrics vs clients' usage");
  assert.equal(after.get("owl_queue_depth"), 0);
  assert.equal(after.get("owl_active_requests"), 0);
  assert.equal(after.get("owl_kv_cache_used_tokens"), 0);
  // Batching happened: more rows than forward passes.
  const rows = after.get("owl_batch_rows_total") - before.get("owl_batch_rows_total");
  const steps = after.get("owl_forward_steps_total") - before.get("owl_forward_steps_total");
  console.log(`       ${steps} forward passes, ${(rows / steps).toFixed(2)} rows per pass`);
  assert.ok(rows > steps, "no batching under load");
});

await run("load");
