// tokenizer/post_processors.h — tokenizer.json "post_processor" components.
//
// owl encodes single sequences only, so a post-processor just wraps the ids of sequence A with
// special tokens (TemplateProcessing, BertProcessing, RobertaProcessing). ByteLevel only
// changes offsets in tokenizers and is a no-op here.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tokenizer/json_util.h"

namespace owl::tok {

class post_processor {
 public:
  virtual ~post_processor() = default;
  // Called only when special tokens are requested.
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

// Builds a post-processor (null gives nullptr); `vocab_size` bounds the ids it may insert.
std::unique_ptr<post_processor> make_post_processor(const json& j, const json_path& at, size_t vocab_size,
                                                    int depth = 0);

}  // namespace owl::tok
