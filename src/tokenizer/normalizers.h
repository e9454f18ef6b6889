// tokenizer/normalizers.h — tokenizer.json "normalizer" components.
//
// owl only needs token ids, not character offsets, so a normalizer is a plain string -> string
// transform (tokenizers' NormalizedString alignment tracking is not needed).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"

namespace owl::tok {

class normalizer {
 public:
  virtual ~normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// The "pattern" field of Replace / Split components: {"String": "..."} (matched literally) or
// {"Regex": "..."}. Shared by normalizers, pre-tokenizers and decoders.
std::unique_ptr<regex> make_pattern(const json& obj, const json_path& at);

// Builds a normalizer from its JSON (null gives nullptr). Unknown types throw owl::error.
std::unique_ptr<normalizer> make_normalizer(const json& j, const json_path& at, int depth = 0);

}  // namespace owl::tok
