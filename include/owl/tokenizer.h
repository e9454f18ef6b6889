// owl/tokenizer.h — Hugging Face tokenizer.json tokenizers, exact to the `tokenizers` library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace owl {

struct tokenizer_options {
  // Reproduce transformers 5.x instead of tokenizer.json: its LlamaTokenizer(Fast) class
  // replaces the file's normalizer, pre-tokenizer and decoder with SentencePiece-style
  // Metaspace ones whenever tokenizer_config.json names that class, even over a byte-level
  // vocabulary (DeepSeek V3's), where every space and newline is then dropped. Off by
  // default: the file is the truth; on only to compare ids with transformers 5.x.
  bool transformers_v5_llama = false;
};

class tokenizer {
 public:
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static std::unique_ptr<tokenizer> from_dir(const std::filesystem::path& dir, const tokenizer_options& options = {});
  // Same, from file contents. `tokenizer_config_json` may be empty. `source` names the
  // origin in error messages.
  static std::unique_ptr<tokenizer> from_json(std::string_view tokenizer_json,
                                              std::string_view tokenizer_config_json,
                                              const std::string& source, const tokenizer_options& options = {});
  virtual ~tokenizer() = default;

  // add_special_tokens: apply the post-processor (e.g. BOS), plus the one BOS that
  // tokenizer_config.json's add_bos_token asks for when the post-processor adds none.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const = 0;
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const = 0;

  virtual size_t vocab_size() const = 0;                       // including added tokens
  virtual std::string token_piece(int32_t id) const = 0;       // the raw vocabulary string
  virtual std::optional<int32_t> token_id(std::string_view piece) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  // From tokenizer_config.json (bos_token / eos_token), or empty.
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::string bos_token() const = 0;
  virtual std::string eos_token() const = 0;
};

// Incremental detokenization for streaming: push ids one at a time and get only the new text,
// never half a UTF-8 character. `context` ids (e.g. the prompt) are decoded together with the
// generated ones so that spacing rules (SentencePiece's leading space) come out right, but
// their own text is not returned.
class stream_decoder {
 public:
  stream_decoder(const tokenizer& tok, std::span<const int32_t> context = {});
  std::string push(int32_t id);
  std::string finish();  // whatever is still held back (e.g. an incomplete character at the end)

 private:
  const tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // ids_[prefix_offset_, read_offset_) decode to already-emitted text
  size_t read_offset_ = 0;
};

}  // namespace owl
