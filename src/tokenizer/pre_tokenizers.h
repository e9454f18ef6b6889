// tokenizer/pre_tokenizers.h — tokenizer.json "pre_tokenizer" components.
//
// A pre-tokenizer cuts the (normalized) text into pieces that the model encodes separately.
// Pieces that are already added tokens (id >= 0) pass through untouched.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"

namespace owl::tok {

struct piece {
  std::string text;
  int32_t id = -1;         // an added token's id, or -1 for text still to be tokenized
  bool at_origin = false;  // starts at offset 0 of the original input (Metaspace "first")
};

enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Cuts `p` along `spans` (which cover all of p.text) as tokenizers' NormalizedString::split
// does, appending the non-empty results to `out`.
void split_piece(const piece& p, const std::vector<match_span>& spans, split_behavior behavior,
                 std::vector<piece>& out);

class pre_tokenizer {
 public:
  virtual ~pre_tokenizer() = default;
  virtual void pre_tokenize(std::vector<piece>& pieces) const = 0;
};

std::unique_ptr<pre_tokenizer> make_pre_tokenizer(const json& j, const json_path& at, int depth = 0);

// GPT-2's byte <-> printable character table (bytes_to_unicode), as UTF-8 strings.
const std::string& byte_to_char(uint8_t b);
// The byte a mapped character stands for, or -1 if `cp` is not in the table.
int char_to_byte(char32_t cp);

}  // namespace owl::tok
