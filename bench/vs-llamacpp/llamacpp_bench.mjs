// llama.cpp's pp/tg speed on a GGUF file through node-llama-cpp's prebuilt CPU library.
// usage: node llamacpp_bench.mjs MODEL.gguf PROMPT_TOKENS GEN_TOKENS THREADS
import {getLlama} from "node-llama-cpp";

const [modelPath, promptArg, genArg, threadArg] = process.argv.slice(2);
const promptTokens = Number(promptArg), genTokens = Number(genArg), threads = Number(threadArg);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error", maxThreads: threads});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 1024, batchSize: promptTokens, threads});
const sequence = context.getSequence();
const random = (n) => Array.from({length: n}, (_, i) => 1000 + ((i * 7919) % 50000));
// Logits of the marked token, as `owl bench` and llama-bench compute them: the whole output
// layer runs (a filter of one token keeps the copy back to JavaScript small). Without it
// llama.cpp skips the output layer, which is most of a small model's work per token.
const withLogits = (token) => [token, {generateNext: {logits: {filter: {tokens: [0]}}}}];

let start = performance.now();
const prompt = random(promptTokens);
await sequence.controlledEvaluate([...prompt.slice(0, -1), withLogits(prompt[prompt.length - 1])]);
const pp = promptTokens / ((performance.now() - start) / 1000);
await sequence.clearHistory();

// tg: one token at a time, as a reply is decoded, each with its logits (no sampling on either
// side, as `owl bench`).
const tokens = random(genTokens);
start = performance.now();
for (const token of tokens) await sequence.controlledEvaluate([withLogits(token)]);
const tg = genTokens / ((performance.now() - start) / 1000);
process.stdout.write(JSON.stringify({pp, tg, threads}) + "\n");
await context.dispose();
await model.dispose();
