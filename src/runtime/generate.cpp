// generate.cpp — prompt processing, then one token at a time until a stop condition.
#include "owl/generate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "owl/error.h"

namespace owl {

generate_result generate(session& s, std::span<const int32_t> prompt, const generate_options& options,
                         const std::function<bool(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  generate_result result;
  result.prompt_tokens = int64_t(prompt.size());
  if (prompt.empty()) fail("generate", "the prompt has no tokens", "a prompt needs at least one token (e.g. BOS)");
  const int64_t room = s.capacity() - s.n_past();
  if (int64_t(prompt.size()) > room)
    fail("generate", "the prompt has " + std::to_string(prompt.size()) + " tokens but only " + std::to_string(room) +
                         " fit in the context", "shorten the prompt; owl never truncates it silently");
  // A requested length must fit entirely: better to refuse than to stop early unannounced.
  if (options.max_tokens >= 0 && int64_t(prompt.size()) + options.max_tokens > room)
    fail("generate", "prompt (" + std::to_string(prompt.size()) + " tokens) + max tokens (" +
                         std::to_string(options.max_tokens) + ") exceed the context of " + std::to_string(room) + " tokens",
         "ask for at most " + std::to_string(room - int64_t(prompt.size())) + " new tokens");
  const int64_t limit = options.max_tokens >= 0 ? options.max_tokens : room - int64_t(prompt.size());

  std::vector<int32_t> history(prompt.begin(), prompt.end());
  auto start = clock::now();
  std::span<const float> logits = s.forward(prompt);
  auto after_prompt = clock::now();
  result.prompt_seconds = std::chrono::duration<double>(after_prompt - start).count();
  result.finish_reason = "length";
  sampler pick(options.sampling, logits.size());

  std::vector<float> scratch;
  for (int64_t i = 0; i < limit; ++i) {
    scratch.assign(logits.begin(), logits.end());
    const int32_t token = pick.sample(scratch, history);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end()) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(token);
    history.push_back(token);
    if (on_token && !on_token(token)) {
      result.finish_reason = "stop";
      break;
    }
    if (i + 1 < limit) logits = s.forward(std::span<const int32_t>(&token, 1));
  }
  result.generate_seconds = std::chrono::duration<double>(clock::now() - after_prompt).count();
  return result;
}

}  // namespace owl
