// tokenizer/decoders.h — tokenizer.json "decoder" components.
//
// As in tokenizers, a decoder rewrites the list of token strings (decode_chain) and the result
// is concatenated.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_util.h"

namespace owl::tok {

class decoder {
 public:
  virtual ~decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<decoder> make_decoder(const json& j, const json_path& at, int depth = 0);

}  // namespace owl::tok
