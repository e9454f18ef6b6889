// End-to-end cases of owl serve with the official OpenAI client (and fetch where the client
// cannot send what is tested). Runs against the server scripts/test-serve started; the 429 case
// starts its own small server.
//
// The model is the bundled stories260K (no chat template: the ChatML fallback, no tool-call
// format), so its output is TinyStories prose. What is asserted is what holds for any model:
// shapes, consistency between streamed and plain answers, determinism, constraints.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { API_KEY, URL_BASE, client, metrics, post, run, startServer, streamChat, streamCompletion, test, waitIdle } from "./common.mjs";

const c = client();
const MODEL = "stories260K";
const chatMessages = [
  { role: "system", content: "You tell short stories." },
  { role: "user", content: "Tell me about a cat." },
];

function checkUsage(u, maxTokens) {
  assert.ok(Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0, `prompt_tokens ${u.prompt_tokens}`);
  assert.ok(Number.isInteger(u.completion_tokens) && u.completion_tokens >= 0, `completion_tokens ${u.completion_tokens}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  if (maxTokens !== undefined) assert.ok(u.completion_tokens <= maxTokens);
}

function checkFinish(finish, usage, maxTokens) {
  assert.ok(finish === "stop" || finish === "length", `finish_reason ${finish}`);
  if (finish === "length") assert.equal(usage.completion_tokens, maxTokens);
}

test("models.list", async () => {
  const page = await c.models.list();
  const ids = page.data.map((m) => m.id);
  assert.deepEqual(ids, [MODEL]);
  assert.equal(page.data[0].object, "model");
  assert.ok(Number.isInteger(page.data[0].created));
  assert.equal(typeof page.data[0].owned_by, "string");
});

test("chat completion", async () => {
  const r = await c.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 48, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, MODEL);
  assert.ok(Number.isInteger(r.created) && Math.abs(r.created - Date.now() / 1000) < 300);
  assert.equal(r.choices.length, 1);
  const ch = r.choices[0];
  assert.equal(ch.index, 0);
  assert.equal(ch.message.role, "assistant");
  assert.equal(typeof ch.message.content, "string");
  assert.ok(ch.message.content.length > 0);
  checkUsage(r.usage, 48);
  checkFinish(ch.finish_reason, r.usage, 48);
  assert.ok(r.usage.completion_tokens > 0);
});

test("streamed chat equals the plain answer (temperature 0), usage chunk", async () => {
  const params = { model: MODEL, messages: chatMessages, max_tokens: 64, temperature: 0 };
  const plain = await c.chat.completions.create(params);
  const s = await streamChat(c, { ...params, stream_options: { include_usage: true } });
  assert.equal(s.firstRole, "assistant", "the first delta carries the role");
  assert.equal(s.ids.size, 1, "every chunk has the same id");
  for (const chunk of s.chunks) assert.equal(chunk.object, "chat.completion.chunk");
  assert.equal(s.text, plain.choices[0].message.content);
  // finish_reason only on the last chunk that has a choice; then the usage chunk (no choices).
  const withChoices = s.chunks.filter((ch) => ch.choices.length > 0);
  withChoices.slice(0, -1).forEach((ch) => assert.equal(ch.choices[0].finish_reason, null));
  assert.equal(withChoices.at(-1).choices[0].finish_reason, plain.choices[0].finish_reason);
  const last = s.chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, plain.usage);
  checkUsage(s.usage, 64);
  // Without include_usage no chunk carries usage.
  const s2 = await streamChat(c, params);
  assert.equal(s2.text, plain.choices[0].message.content);
  assert.ok(s2.chunks.every((ch) => !ch.usage), "usage only when asked for");
});

test("completions, plain and streamed", async () => {
  const params = { model: MODEL, prompt: "Once upon a time", max_tokens: 50, temperature: 0 };
  const r = await c.completions.create(params);
  assert.equal(r.object, "text_completion");
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, "string");
  assert.ok(r.choices[0].text.length > 0);
  checkUsage(r.usage, 50);
  checkFinish(r.choices[0].finish_reason, r.usage, 50);
  const s = await streamCompletion(c, { ...params, stream_options: { include_usage: true } });
  assert.equal(s.text, r.choices[0].text);
  assert.equal(s.finish, r.choices[0].finish_reason);
  assert.deepEqual(s.usage, r.usage);
  for (const ch of s.chunks) assert.equal(ch.object, "text_completion");
  // The greedy continuation is what owl run prints for this prompt (stories260K).
  assert.match(r.choices[0].text, /^, there was a little girl named Lily\./);
});

const tools = [
  { type: "function", function: { name: "get_weather", description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
  { type: "function", function: { name: "add", description: "Adds two numbers",
    parameters: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } } } } },
];

function checkToolCalls(calls) {
  const names = tools.map((t) => t.function.name);
  for (const call of calls) {
    assert.equal(typeof call.id, "string");
    assert.ok(call.id.length > 0);
    assert.equal(call.type, "function");
    assert.ok(names.includes(call.function.name), `unknown tool ${call.function.name}`);
    assert.equal(typeof call.function.arguments, "string");
    JSON.parse(call.function.arguments);
  }
}

test("tools round trip", async () => {
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  for (const stream of [false, true]) {
    const params = { model: MODEL, messages, tools, max_tokens: 40, temperature: 0 };
    let calls, finish, content;
    if (stream) {
      const s = await c.chat.completions.create({ ...params, stream: true });
      calls = [];
      content = "";
      for await (const chunk of s) {
        for (const ch of chunk.choices) {
          if (ch.delta?.content) content += ch.delta.content;
          for (const tc of ch.delta?.tool_calls ?? []) {
            calls[tc.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } };
            if (tc.id) calls[tc.index].id = tc.id;
            if (tc.type) calls[tc.index].type = tc.type;
            if (tc.function?.name) calls[tc.index].function.name += tc.function.name;
            if (tc.function?.arguments) calls[tc.index].function.arguments += tc.function.arguments;
          }
          if (ch.finish_reason) finish = ch.finish_reason;
        }
      }
    } else {
      const r = await c.chat.completions.create(params);
      calls = r.choices[0].message.tool_calls ?? [];
      finish = r.choices[0].finish_reason;
      content = r.choices[0].message.content ?? "";
    }
    // stories260K has no tool-call format, so it answers in prose; a model that calls a tool
    // must do it in the right shape, with finish_reason "tool_calls".
    checkToolCalls(calls);
    assert.equal(finish, calls.length > 0 ? "tool_calls" : finish === "length" ? "length" : "stop");
    if (calls.length === 0) assert.ok(content.length > 0);
  }
  // The follow-up: an assistant turn with a tool call (content null, as OpenAI clients send
  // it) and the tool's result. The server must render the conversation and answer it.
  const followUp = [
    ...messages,
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function",
      function: { name: "get_weather", arguments: JSON.stringify({ city: "Paris" }) } }] },
    { role: "tool", tool_call_id: "call_1", content: JSON.stringify({ temperature_c: 21, sky: "clear" }) },
  ];
  const r = await c.chat.completions.create({ model: MODEL, messages: followUp, tools, max_tokens: 30, temperature: 0 });
  assert.equal(r.choices[0].message.role, "assistant");
  checkToolCalls(r.choices[0].message.tool_calls ?? []);
  assert.ok(r.usage.prompt_tokens > 0);
  // tool_choice "none" answers in text and never with tool calls.
  const none = await c.chat.completions.create({ model: MODEL, messages: followUp, tools, tool_choice: "none", max_tokens: 20 });
  assert.equal(none.choices[0].message.tool_calls ?? undefined, undefined);
  // A tool message must name the call it answers.
  await assert.rejects(c.chat.completions.create({ model: MODEL, max_tokens: 5,
    messages: [...messages, { role: "tool", content: "x" }] }), (e) => e instanceof OpenAI.BadRequestError && e.param === "messages[1].tool_call_id");
});

// ---- response_format -------------------------------------------------------------------------
const personSchema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    age: { type: "integer" },
    color: { enum: ["red", "green", "blue"] },
    happy: { type: "boolean" },
    // A nested array; its items are bounded strings, so that the whole reply (with up to 10
    // whitespace bytes in each gap, which stories260K likes to use) fits the 512-token context.
    pets: { type: "array", maxItems: 3, items: { type: "string", maxLength: 8 } },
  },
  required: ["name", "age", "color", "happy", "pets"],
  additionalProperties: false,
};

// The subset of JSON Schema used above; returns a list of problems (empty: valid).
function validate(value, schema, path = "$") {
  const problems = [];
  const kind = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    problems.push(`${path}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case undefined: break;
    case "object":
      if (kind !== "object") { problems.push(`${path}: not an object`); break; }
      for (const r of schema.required ?? []) if (!(r in value)) problems.push(`${path}: missing ${r}`);
      for (const [k, v] of Object.entries(value)) {
        if (schema.properties?.[k]) problems.push(...validate(v, schema.properties[k], `${path}.${k}`));
        else if (schema.additionalProperties === false) problems.push(`${path}: unexpected ${k}`);
      }
      break;
    case "array":
      if (kind !== "array") { problems.push(`${path}: not an array`); break; }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) problems.push(`${path}: ${value.length} items`);
      value.forEach((v, i) => problems.push(...validate(v, schema.items ?? {}, `${path}[${i}]`)));
      break;
    case "string":
      if (kind !== "string") { problems.push(`${path}: not a string`); break; }
      if (schema.maxLength !== undefined && [...value].length > schema.maxLength) problems.push(`${path}: longer than ${schema.maxLength}`);
      break;
    case "integer":
      if (!Number.isInteger(value)) problems.push(`${path}: not an integer`);
      break;
    case "boolean":
      if (kind !== "boolean") problems.push(`${path}: not a boolean`);
      break;
    default:
      problems.push(`${path}: validator does not know type ${schema.type}`);
  }
  return problems;
}

test("response_format json_schema (temperature 1, 8 seeds)", async () => {
  for (let seed = 1; seed <= 8; seed++) {
    for (const stream of [false, true]) {
      const params = { model: MODEL, messages: [{ role: "user", content: "Describe a person as JSON." }], temperature: 1, seed,
                       response_format: { type: "json_schema", json_schema: { name: "person", strict: true, schema: personSchema } } };
      let content, finish;
      if (stream) ({ text: content, finish } = await streamChat(c, params));
      else {
        const r = await c.chat.completions.create(params);
        content = r.choices[0].message.content;
        finish = r.choices[0].finish_reason;
      }
      // The schema bounds the output (bounded strings, arrays and whitespace), so it ends.
      assert.equal(finish, "stop", `seed ${seed}: finish_reason ${finish}: ${content}`);
      let value;
      try { value = JSON.parse(content); } catch (e) { assert.fail(`seed ${seed}: not JSON: ${e.message}: ${content}`); }
      const problems = validate(value, personSchema);
      assert.deepEqual(problems, [], `seed ${seed}: ${content}`);
    }
  }
});

test("response_format json_object", async () => {
  // Free-form objects may grow until max_tokens; a reply that ends ("stop") must be an object,
  // and one cut by the length is asserted no further. At least one of the seeds must end.
  let ended = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = await c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Answer in JSON." }],
      temperature: 1, seed, max_tokens: 300, response_format: { type: "json_object" } });
    const { content } = r.choices[0].message;
    assert.ok(content.trimStart().startsWith("{"), content);
    if (r.choices[0].finish_reason !== "stop") continue;
    ended++;
    const value = JSON.parse(content);
    assert.ok(value !== null && typeof value === "object" && !Array.isArray(value), content);
  }
  assert.ok(ended > 0, "no json_object reply ended within 300 tokens in 8 seeds");
});

test("response_format errors: unsupported keyword is a 400 naming it", async () => {
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 5,
    response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^a+$" } } } }),
  (e) => e instanceof OpenAI.BadRequestError && /pattern/.test(e.message));
});

// ---- stop sequences ------------------------------------------------------------------------------
// A stop string taken from the middle of the greedy text: the output is the text before its
// first occurrence.
function pickStop(text) {
  for (let at = Math.floor(text.length / 3); at + 6 < text.length; at++) {
    const stop = text.slice(at, at + 6);
    const first = text.indexOf(stop);
    if (first > 0 && stop.trim().length >= 3) return { stop, expected: text.slice(0, first) };
  }
  throw new Error(`no stop string found in ${JSON.stringify(text)}`);
}

test("stop sequences (chat and completions, plain and streamed)", async () => {
  const chatParams = { model: MODEL, messages: chatMessages, max_tokens: 80, temperature: 0 };
  const greedy = (await c.chat.completions.create(chatParams)).choices[0].message.content;
  const { stop, expected } = pickStop(greedy);
  const r = await c.chat.completions.create({ ...chatParams, stop: [stop, "\u0000never"] });
  assert.equal(r.choices[0].message.content, expected);
  assert.ok(!r.choices[0].message.content.includes(stop));
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await streamChat(c, { ...chatParams, stop });
  assert.equal(s.text, expected);
  assert.equal(s.finish, "stop");

  const compParams = { model: MODEL, prompt: "The little dog", max_tokens: 80, temperature: 0 };
  const ctext = (await c.completions.create(compParams)).choices[0].text;
  const cs = pickStop(ctext);
  const cr = await c.completions.create({ ...compParams, stop: cs.stop });
  assert.equal(cr.choices[0].text, cs.expected);
  assert.equal(cr.choices[0].finish_reason, "stop");
  const css = await streamCompletion(c, { ...compParams, stop: [cs.stop] });
  assert.equal(css.text, cs.expected);
  assert.equal(css.finish, "stop");
});

test("seed reproducibility at temperature 1", async () => {
  const params = { model: MODEL, messages: chatMessages, max_tokens: 40, temperature: 1 };
  const text = async (seed) => (await c.chat.completions.create({ ...params, seed })).choices[0].message.content;
  const a = await text(42), b = await text(42);
  assert.equal(a, b, "same seed, same text");
  const s = await streamChat(c, { ...params, seed: 42 });
  assert.equal(s.text, a, "streamed with the same seed, same text");
  const others = [];
  for (const seed of [1, 2, 3, 4, 5]) others.push(await text(seed));
  assert.ok(others.some((t) => t !== a), "different seeds give at least one different text");
  // Without a seed, requests do not repeat each other.
  const unseeded = new Set();
  for (let i = 0; i < 4; i++) unseeded.add((await c.chat.completions.create(params)).choices[0].message.content);
  assert.ok(unseeded.size > 1, "unseeded requests all gave the same text");
});

test("logprobs and top_logprobs", async () => {
  const r = await c.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 20, temperature: 0,
                                              logprobs: true, top_logprobs: 3 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, "string");
    assert.ok(t.logprob <= 0 && Number.isFinite(t.logprob));
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 3);
    for (let i = 1; i < 3; i++) assert.ok(t.top_logprobs[i - 1].logprob >= t.top_logprobs[i].logprob);
    // Greedy: the chosen token is the most likely one.
    assert.ok(Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6);
    assert.equal(t.token, t.top_logprobs[0].token);
  }
  assert.equal(content.map((t) => t.token).join(""), r.choices[0].message.content);
  // Streamed: the chunks' logprobs cover the same tokens.
  const s = await streamChat(c, { model: MODEL, messages: chatMessages, max_tokens: 20, temperature: 0, logprobs: true, top_logprobs: 3 });
  const streamed = s.chunks.flatMap((ch) => ch.choices.flatMap((x) => x.logprobs?.content ?? []));
  assert.deepEqual(streamed.map((t) => t.token), content.map((t) => t.token));
  // Without logprobs: null.
  const plain = await c.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 5 });
  assert.equal(plain.choices[0].logprobs, null);
  // Completions' legacy shape: parallel arrays.
  const cr = await c.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 10, temperature: 0, logprobs: 2 });
  const lp = cr.choices[0].logprobs;
  assert.equal(lp.tokens.length, cr.usage.completion_tokens);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  for (const top of lp.top_logprobs) assert.equal(Object.keys(top).length <= 2 && Object.keys(top).length >= 1, true);
  assert.equal(lp.tokens.join(""), cr.choices[0].text);
  // top_logprobs above 20 is refused.
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 2, logprobs: true, top_logprobs: 21 }),
                       OpenAI.BadRequestError);
});

// ---- errors ---------------------------------------------------------------------------------------
test("401 without the key and with a wrong key; /health needs none", async () => {
  const wrong = client({ apiKey: "not-the-key" });
  await assert.rejects(wrong.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 2 }),
                       (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === "invalid_api_key");
  await assert.rejects(wrong.models.list(), OpenAI.AuthenticationError);
  // The client always sends some key; remove its header to send none.
  const none = client({ apiKey: "unused", extra: { defaultHeaders: { Authorization: null } } });
  await assert.rejects(none.chat.completions.create({ model: MODEL, messages: chatMessages, max_tokens: 2 }),
                       (e) => e instanceof OpenAI.AuthenticationError);
  const bare = await fetch(URL_BASE + "/v1/models");
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get("www-authenticate"), "Bearer");
  assert.equal((await bare.json()).error.type, "authentication_error");
  // Unknown routes need the key too (an unauthenticated client learns nothing).
  assert.equal((await fetch(URL_BASE + "/v1/nothing-here")).status, 401);
  const health = await fetch(URL_BASE + "/health");
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: "ok" });
});

test("413 on a body above --max-body", async () => {
  const big = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(2 << 20) }] });
  const r = await post("/v1/chat/completions", big);
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, "request_too_large");
  // The connection's trouble stays with it: the next request works.
  assert.equal((await fetch(URL_BASE + "/health")).status, 200);
});

test("400 on invalid JSON and on wrong fields", async () => {
  for (const body of ["{bad", "", "[1,2]", '{"messages": [}', '{"messages":[{"role":"user","content":"hi"}]} trailing']) {
    const r = await post("/v1/chat/completions", body);
    assert.equal(r.status, 400, `body ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.type, "invalid_request_error");
    assert.equal(typeof r.json.error.message, "string");
  }
  const deep = await post("/v1/completions", "[".repeat(100000) + "]".repeat(100000));
  assert.equal(deep.status, 400);
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: chatMessages, temperature: 5 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === "temperature");
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: [] }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === "messages");
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: chatMessages, n: 2 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === "n");
});

test("400 context_length_exceeded for prompt + max_tokens over the context", async () => {
  const prompt = "Once upon a time there was a little cat. ".repeat(12);  // ~ 200 tokens of the 512
  await assert.rejects(c.completions.create({ model: MODEL, prompt, max_tokens: 400 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded" && e.param === "max_tokens");
  await assert.rejects(c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: prompt.repeat(4) }] }),
                       (e) => e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded");
  // The same prompt with room for the reply works.
  const ok = await c.completions.create({ model: MODEL, prompt, max_tokens: 10 });
  assert.equal(ok.usage.completion_tokens <= 10, true);
});

test("404 unknown route, 405 wrong method", async () => {
  const r = await fetch(URL_BASE + "/v1/embeddings", { method: "POST", headers: { ...{ Authorization: `Bearer ${API_KEY}` } }, body: "{}" });
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.code, "not_found");
  const m = await fetch(URL_BASE + "/v1/chat/completions", { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.equal(m.status, 405);
  assert.equal(m.headers.get("allow"), "POST");
});

test("429 with Retry-After when the queue is full (--parallel 1 --queue 1)", async () => {
  const server = await startServer(["--api-key", API_KEY, "--parallel", "1", "--queue", "1", "--threads", "1"]);
  try {
    const small = client({ url: server.url });
    // Long requests (each fills the context of 512 tokens): the first takes the slot, the
    // burst that follows it meets a full queue. A request that arrives while the one before
    // it is still queued (not yet in the slot) is refused too: --queue counts waiting requests.
    const prompt = "Once upon a time, there was a little girl named Lily. ";
    const one = () => small.completions.create({ model: MODEL, prompt, max_tokens: 480, temperature: 0 })
      .then((r) => ({ ok: r }), (e) => ({ e }));
    const first = one();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const results = await Promise.all([first, ...Array.from({ length: 7 }, one)]);
    const ok = results.filter((r) => r.ok), refused = results.filter((r) => r.e);
    for (const { e } of refused) {
      assert.ok(e instanceof OpenAI.RateLimitError, `not a 429: ${e}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, "rate_limit_exceeded");
      const after = e.headers.get("retry-after");
      assert.ok(Number(after) >= 1, `Retry-After ${after}`);
    }
    assert.ok(refused.length >= 1, "no request was refused");
    assert.ok(ok.length >= 1, "no request succeeded");
    // Retried after Retry-After, one at a time, the refused ones succeed.
    for (const { e } of refused) {
      await new Promise((resolve) => setTimeout(resolve, Number(e.headers.get("retry-after")) * 1000));
      const r = await one();
      assert.ok(r.ok, `retry failed: ${r.e}`);
      ok.push(r);
    }
    const texts = new Set(ok.map((r) => r.ok.choices[0].text));
    assert.equal(texts.size, 1, "greedy requests gave different texts");
    console.log(`       (burst of 8: ${8 - refused.length} accepted, ${refused.length} refused with 429)`);
    const m = await waitIdle(5, server.url);
    assert.equal(m.get(`owl_requests_total{route="/v1/completions",status="429"}`), refused.length);
    assert.equal(m.get(`owl_requests_total{route="/v1/completions",status="200"}`), ok.length);
    assert.equal(ok.length, 8);
  } finally {
    assert.equal(await server.stop(), 0, "SIGTERM: exit code 0");
  }
});

test("SIGTERM during a streamed request: the stream completes, exit code 0", async () => {
  const server = await startServer(["--api-key", API_KEY, "--threads", "1"]);
  let code;
  const c2 = client({ url: server.url });
  const stream = await c2.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 400, temperature: 0, stream: true });
  let text = "", finish = null, stopping;
  for await (const chunk of stream) {
    if (!stopping) stopping = server.stop();
    text += chunk.choices[0]?.text ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  code = await stopping;
  assert.equal(code, 0);
  assert.ok(finish === "stop" || finish === "length", `finish_reason ${finish}`);
  assert.ok(text.length > 0);
});

await run("e2e");
