// Greedy continuation of a prompt by llama.cpp (node-llama-cpp's prebuilt CPU build).
// usage: node llamacpp_greedy.mjs MODEL.gguf PROMPT N  -> prints {"prompt_ids":[...],"ids":[...],"text":"..."}
import {getLlama} from "node-llama-cpp";

const [modelPath, prompt, count] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 512, threads: 2});
const sequence = context.getSequence();
// A prompt gets BOS when the file says so (tokenizer.ggml.add_bos_token), as llama-cli does.
const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
const promptIds = [...bos, ...model.tokenize(prompt)];
const ids = [];
for await (const token of sequence.evaluate(promptIds, {temperature: 0})) {
  ids.push(token);
  if (ids.length >= Number(count) || model.isEogToken(token)) break;
}
const generated = ids.filter((t) => !model.isEogToken(t));
process.stdout.write(JSON.stringify({prompt_ids: Array.from(promptIds), ids: generated,
                                     text: model.detokenize(generated)}) + "\n");
await context.dispose();
await model.dispose();
