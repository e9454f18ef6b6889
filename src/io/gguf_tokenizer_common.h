// io/gguf_tokenizer_common.h — what the GGUF tokenizer reader and writer share: llama.cpp's token
// types, the known byte-level pre-tokenizers ("tokenizer.ggml.pre"), and SentencePiece merges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace owl::gguf_tok {

using json = nlohmann::json;

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum token_type : int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// A byte-level BPE pre-tokenization setup, as Hugging Face writes it in tokenizer.json.
struct pre_config {
  std::vector<std::string> names;  // tokenizer.ggml.pre values; names[0] is what we write
  json normalizer;
  json pre_tokenizer;
  bool ignore_merges = false;
};
const std::vector<pre_config>& known_pre_configs();
const pre_config* find_pre_config(std::string_view name);
std::string known_pre_names();  // "'gpt-2', 'default', ..." for messages

// Components reduced to what changes the ids: Sequences flattened, ids-irrelevant fields dropped.
json canonical_normalizer(const json& normalizer);
json canonical_pre_tokenizer(const json& pre_tokenizer);

// Hugging Face's SentencePiece converter: for every piece (in id order), every split into two
// pieces that are both in the vocabulary is a merge (a piece's splits ordered by the ids of their
// halves); merges are then ranked by the score of the merged piece, higher first (stable).
// `ids[piece]` must map each piece to its first id. Returns (left id, right id) pairs by rank.
// Pieces longer than max_sp_merge_piece_bytes get no merges (SentencePiece pieces are short).
inline constexpr size_t max_sp_merge_piece_bytes = 256;
std::vector<std::pair<int32_t, int32_t>> sentencepiece_merges(const std::vector<std::string>& pieces,
                                                              const std::vector<float>& scores);

// The SentencePiece normalizer / decoder Hugging Face uses for Llama-style tokenizers.
inline constexpr const char* sp_space = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
json sentencepiece_normalizer(bool add_space_prefix);
json sentencepiece_decoder(bool add_space_prefix);

}  // namespace owl::gguf_tok
