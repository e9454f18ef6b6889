// owl/generate.h — the generation loop: prompt in, tokens out, with stopping rules.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "owl/model.h"
#include "owl/sampler.h"

namespace owl {

struct generate_options {
  int64_t max_tokens = -1;        // -1: until an end token or the session is full
  sampling_params sampling;
  std::vector<int32_t> stop_ids;  // any of these ends generation (not included in the output)
};

struct generate_result {
  std::vector<int32_t> tokens;    // generated ids, stop token excluded
  std::string finish_reason;      // "stop" (end token / callback), "length" (max_tokens or full)
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;      // prompt processing time
  double generate_seconds = 0;    // time for the generated tokens after the first
};

// Feeds `prompt` into `s` (which must be empty or continue a previous call) and samples up to
// max_tokens tokens. on_token is called for each generated token; returning false stops.
// An explicit max_tokens that does not fit the session with the prompt is an owl::error
// naming both numbers: a prompt is never silently truncated.
generate_result generate(session& s, std::span<const int32_t> prompt, const generate_options& options,
                         const std::function<bool(int32_t)>& on_token = {});

}  // namespace owl
