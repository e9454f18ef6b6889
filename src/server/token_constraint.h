// token_constraint.h — constrained decoding: which tokens may come next so that the output
// stays a prefix of something valid (e.g. JSON matching a schema).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace owl::server {

// One request's constraint state. Used by one thread at a time (the scheduler's).
class token_constraint {
 public:
  virtual ~token_constraint() = default;
  // logits: [vocab]. Sets the logit of every token that may not come next to -infinity.
  // Once the output is complete, only end-of-output tokens (the request's stop ids) remain.
  // There is always at least one allowed token: when nothing can continue (should not happen
  // for a well-formed constraint), the end tokens are allowed.
  virtual void mask(std::span<float> logits) = 0;
  // The sampled token (one that mask() allowed) is appended to the output.
  virtual void accept(int32_t token) = 0;
  // Whether the output so far is a complete value.
  virtual bool complete() const = 0;
};

}  // namespace owl::server
