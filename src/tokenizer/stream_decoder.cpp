// stream_decoder.cpp — incremental detokenization (the prefix/read offset scheme of
// text-generation-inference).
//
// Decoding tokens one at a time is wrong in two ways: a character can span several byte-level
// tokens, and decoders such as SentencePiece's strip the leading space of the *first* token.
// So we decode a window ids_[prefix_offset_, end) and compare it with the text of
// ids_[prefix_offset_, read_offset_), which was already emitted: the difference is new text,
// unless the window ends in U+FFFD (an incomplete character), in which case we wait.
#include <algorithm>

#include "owl/tokenizer.h"

namespace owl {

namespace {

// Tokens of context kept in the window so the first generated token decodes with the right
// spacing (a few, in case the last ones are partial byte-fallback characters).
constexpr size_t context_window = 8;

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";

bool ends_with_replacement(const std::string& s) {
  return s.size() >= replacement_char.size() &&
         std::string_view(s).substr(s.size() - replacement_char.size()) == replacement_char;
}

// The new part of `text` after the already-emitted `prefix`. When `prefix` is not a prefix of
// `text` (a decoder that rewrites earlier text), emit from the first difference, backed up to
// a character boundary so the output stays valid UTF-8.
std::string new_part(const std::string& prefix, const std::string& text) {
  size_t common = 0;
  const size_t n = std::min(prefix.size(), text.size());
  while (common < n && prefix[common] == text[common]) ++common;
  if (common == prefix.size()) return text.substr(common);
  while (common > 0 && (static_cast<unsigned char>(text[common]) & 0xC0) == 0x80) --common;
  return text.substr(common);
}

}  // namespace

stream_decoder::stream_decoder(const tokenizer& tok, std::span<const int32_t> context)
    : tok_(tok), ids_(context.begin(), context.end()) {
  read_offset_ = ids_.size();
  prefix_offset_ = ids_.size() > context_window ? ids_.size() - context_window : 0;
}

std::string stream_decoder::push(int32_t id) {
  ids_.push_back(id);
  const std::span<const int32_t> all(ids_);
  const std::string prefix_text = tok_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_));
  const std::string new_text = tok_.decode(all.subspan(prefix_offset_));
  if (new_text.size() > prefix_text.size() && !ends_with_replacement(new_text)) {
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    return new_part(prefix_text, new_text);
  }
  return {};
}

std::string stream_decoder::finish() {
  if (read_offset_ >= ids_.size()) return {};
  const std::span<const int32_t> all(ids_);
  const std::string prefix_text = tok_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_));
  const std::string new_text = tok_.decode(all.subspan(prefix_offset_));
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  if (new_text.size() <= prefix_text.size()) return {};
  return new_part(prefix_text, new_text);
}

}  // namespace owl
