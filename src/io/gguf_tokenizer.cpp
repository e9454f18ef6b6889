// io/gguf_tokenizer.cpp — the tokenizer a GGUF carries, rebuilt as Hugging Face tokenizer.json.
//
// tokenizer.ggml.model "llama" (SentencePiece: tokens, scores, token_type) becomes a BPE model with
// byte fallback whose merges are derived from the scores the way Hugging Face's SentencePiece
// converter does, with the Prepend/Replace normalizer and the Replace/ByteFallback/Fuse/Strip
// decoder. "gpt2" (byte-level BPE: tokens, merges) becomes a BPE model whose normalizer and
// pre-tokenizer come from tokenizer.ggml.pre (see known_pre_configs). Control tokens (type 3) and
// the unknown token become special added tokens, user-defined ones (type 4) plain added tokens.
// BOS/EOS become a TemplateProcessing post-processor plus tokenizer_config.json fields.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "io/gguf.h"
#include "io/gguf_tokenizer_common.h"
#include "io/safetensors_common.h"
#include "owl/error.h"

namespace owl {

namespace gguf_tok {

namespace {

// Split patterns of the pre-tokenizers, as the reference tokenizer.json files spell them.
const char* llama3_split = R"json({"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false})json";
const char* olmo_split = R"json({"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Removed","invert":true})json";
const char* qwen2_split = R"json({"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false})json";
const char* deepseek_v3_splits[] = {
    R"json({"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior":"Isolated","invert":false})json",
    R"json({"type":"Split","pattern":{"Regex":"[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"},"behavior":"Isolated","invert":false})json",
    R"json({"type":"Split","pattern":{"Regex":"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false})json",
};

json byte_level(bool use_regex, bool trim_offsets = true) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", trim_offsets}, {"use_regex", use_regex}};
}

json split_then_byte_level(std::vector<json> splits, bool trim_offsets = true) {
  json list = json::array();
  for (json& s : splits) list.push_back(std::move(s));
  list.push_back(byte_level(false, trim_offsets));
  return {{"type", "Sequence"}, {"pretokenizers", std::move(list)}};
}

std::vector<pre_config> build_pre_configs() {
  const json nfc = {{"type", "NFC"}};
  std::vector<pre_config> out;
  out.push_back({{"gpt-2", "default", "gpt2"}, nullptr, byte_level(true), false});
  out.push_back({{"gpt-neox", "pythia"}, nfc, byte_level(true), false});
  out.push_back({{"llama-bpe", "llama3"}, nullptr, split_then_byte_level({json::parse(llama3_split)}), true});
  out.push_back({{"qwen2"}, nfc, split_then_byte_level({json::parse(qwen2_split)}, false), false});
  std::vector<json> ds;
  for (const char* s : deepseek_v3_splits) ds.push_back(json::parse(s));
  out.push_back({{"deepseek-v3"}, nullptr, split_then_byte_level(std::move(ds)), false});
  out.push_back({{"olmo"}, nullptr, split_then_byte_level({json::parse(olmo_split)}), false});
  return out;
}

std::string type_of(const json& j) {
  if (!j.is_object()) return {};
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void flatten(const json& j, const char* list_key, std::vector<json>& out, int depth) {
  if (j.is_null()) return;
  if (depth > 32) {
    out.push_back(j);
    return;
  }
  if (type_of(j) == "Sequence" && j.contains(list_key) && j[list_key].is_array()) {
    for (const json& c : j[list_key]) flatten(c, list_key, out, depth + 1);
    return;
  }
  out.push_back(j);
}

bool json_bool(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

}  // namespace

const std::vector<pre_config>& known_pre_configs() {
  static const std::vector<pre_config> configs = build_pre_configs();
  return configs;
}

const pre_config* find_pre_config(std::string_view name) {
  for (const pre_config& c : known_pre_configs())
    for (const std::string& n : c.names)
      if (n == name) return &c;
  return nullptr;
}

std::string known_pre_names() {
  std::string out;
  for (const pre_config& c : known_pre_configs())
    for (const std::string& n : c.names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

json canonical_normalizer(const json& normalizer) {
  std::vector<json> parts;
  flatten(normalizer, "normalizers", parts, 0);
  return json(parts);
}

json canonical_pre_tokenizer(const json& pre_tokenizer) {
  std::vector<json> parts;
  flatten(pre_tokenizer, "pretokenizers", parts, 0);
  json out = json::array();
  for (const json& p : parts) {
    const std::string type = type_of(p);
    if (type == "ByteLevel")
      out.push_back({{"type", type},
                     {"add_prefix_space", json_bool(p, "add_prefix_space", true)},
                     {"use_regex", json_bool(p, "use_regex", true)}});
    else if (type == "Split")
      out.push_back({{"type", type},
                     {"pattern", p.value("pattern", json())},
                     {"behavior", p.value("behavior", json())},
                     {"invert", json_bool(p, "invert", false)}});
    else
      out.push_back(p);
  }
  return out;
}

std::vector<std::pair<int32_t, int32_t>> sentencepiece_merges(const std::vector<std::string>& pieces,
                                                              const std::vector<float>& scores) {
  std::unordered_map<std::string_view, int32_t> ids;
  ids.reserve(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) ids.emplace(pieces[i], int32_t(i));
  struct candidate {
    float score;
    int32_t left, right;
  };
  std::vector<candidate> merges;
  std::vector<candidate> local;
  for (size_t id = 0; id < pieces.size(); ++id) {
    const std::string_view piece = pieces[id];
    if (piece.size() < 2 || piece.size() > max_sp_merge_piece_bytes || ids.at(piece) != int32_t(id)) continue;
    local.clear();
    for (size_t k = 1; k < piece.size(); ++k) {
      if ((uint8_t(piece[k]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      auto l = ids.find(piece.substr(0, k));
      if (l == ids.end()) continue;
      auto r = ids.find(piece.substr(k));
      if (r == ids.end()) continue;
      local.push_back({scores[id], l->second, r->second});
    }
    std::sort(local.begin(), local.end(), [](const candidate& a, const candidate& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const candidate& a, const candidate& b) { return a.score > b.score; });
  std::vector<std::pair<int32_t, int32_t>> out;
  out.reserve(merges.size());
  for (const candidate& c : merges) out.emplace_back(c.left, c.right);
  return out;
}

json sentencepiece_normalizer(bool add_space_prefix) {
  json list = json::array();
  if (add_space_prefix) list.push_back({{"type", "Prepend"}, {"prepend", sp_space}});
  list.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp_space}});
  return {{"type", "Sequence"}, {"normalizers", std::move(list)}};
}

json sentencepiece_decoder(bool add_space_prefix) {
  json list = json::array();
  list.push_back({{"type", "Replace"}, {"pattern", {{"String", sp_space}}}, {"content", " "}});
  list.push_back({{"type", "ByteFallback"}});
  list.push_back({{"type", "Fuse"}});
  if (add_space_prefix) list.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  return {{"type", "Sequence"}, {"decoders", std::move(list)}};
}

}  // namespace gguf_tok

// ---------------------------------------------------------------------------------------------
// tokenizer_from_gguf

namespace {

using gguf_tok::json;
using gguf_tok::token_type;
using detail::quote_name;

constexpr const char* tokens_key = "tokenizer.ggml.tokens";
constexpr const char* convert_hint = "the file's tokenizer metadata is corrupt; re-convert the model";

class from_gguf {
 public:
  explicit from_gguf(const gguf_metadata_reader& md) : md_(md) {}
  gguf_tokenizer_json run();

 private:
  void read_tokens();
  std::optional<int32_t> token_id_key(const char* key) const;
  json added_tokens() const;
  json post_processor() const;
  json sentencepiece_model();
  json byte_level_model();
  json config() const;
  std::string where_item(const char* key, size_t i) const {
    return md_.where(std::string(key) + "[" + std::to_string(i) + "]");
  }

  const gguf_metadata_reader& md_;
  std::string model_;
  std::vector<std::string> tokens_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string_view, int32_t> ids_;  // first id of each piece
  std::optional<int32_t> bos_, eos_, unk_, pad_;
  bool add_bos_ = false, add_eos_ = false;
};

void from_gguf::read_tokens() {
  const gguf_array& tokens = md_.get_array(tokens_key, gguf_value_type::string);
  if (tokens.items.empty()) fail(md_.where(tokens_key), "expected at least one token, found an empty array", convert_hint);
  if (tokens.items.size() > size_t(INT32_MAX))
    fail(md_.where(tokens_key), "too many tokens (" + std::to_string(tokens.items.size()) + ")", convert_hint);
  tokens_.reserve(tokens.items.size());
  for (size_t i = 0; i < tokens.items.size(); ++i) {
    const std::string& piece = *tokens.items[i].get_if<std::string>();
    if (size_t bad = detail::invalid_utf8_offset(piece); bad != std::string::npos)
      fail(where_item(tokens_key, i), "token " + quote_name(piece) + " is not valid UTF-8 (bad byte at offset " +
                                          std::to_string(bad) + ")",
           "owl's tokenizer needs UTF-8 token strings");
    tokens_.push_back(piece);
  }
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], int32_t(i));

  types_.assign(tokens_.size(), token_type::normal);
  const char* type_key = "tokenizer.ggml.token_type";
  if (const gguf_array* types = md_.find_array(type_key)) {
    if (types->items.size() != tokens_.size())
      fail(md_.where(type_key), "has " + std::to_string(types->items.size()) + " entries, expected one per token (" +
                                    std::to_string(tokens_.size()) + ")",
           convert_hint);
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const std::optional<int64_t> t = types->items[i].as_i64();
      if (!t || *t < 0 || *t > token_type::byte)
        fail(where_item(type_key, i),
             "token type " + (t ? std::to_string(*t) : std::string("of type ") + gguf_type_name(types->items[i].type())) +
                 ", expected an integer 0..6 (normal 1, unknown 2, control 3, user defined 4, unused 5, byte 6)",
             convert_hint);
      types_[i] = int32_t(*t);
    }
  }
}

std::optional<int32_t> from_gguf::token_id_key(const char* key) const {
  if (!md_.find(key)) return std::nullopt;
  const gguf_value& v = md_.get(key);
  const std::optional<int64_t> id = v.as_i64();
  if (!id) fail(md_.where(key), std::string("expected a token id (integer), found a ") + gguf_type_name(v.type()));
  // llama.cpp writes -1 (as u32 0xFFFFFFFF, too) for "none".
  if (*id == -1 || *id == int64_t(UINT32_MAX)) return std::nullopt;
  if (*id < 0 || *id >= int64_t(tokens_.size()))
    fail(md_.where(key), "token id " + std::to_string(*id) + " is out of range, expected 0.." +
                             std::to_string(tokens_.size() - 1),
         convert_hint);
  return int32_t(*id);
}

json from_gguf::added_tokens() const {
  json list = json::array();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const int32_t t = types_[i];
    const bool is_unk = unk_ && *unk_ == int32_t(i);
    if (t != token_type::control && t != token_type::user_defined && t != token_type::unknown && !is_unk) continue;
    if (tokens_[i].empty()) continue;
    list.push_back({{"id", i},
                    {"content", tokens_[i]},
                    {"single_word", false},
                    {"lstrip", false},
                    {"rstrip", false},
                    {"normalized", false},  // llama.cpp matches added tokens in the raw text
                    {"special", t != token_type::user_defined}});
  }
  return list;
}

json from_gguf::post_processor() const {
  json single = json::array(), pair = json::array(), specials = json::object();
  auto special = [&](int32_t id, int type_id) {
    specials[tokens_[id]] = {{"id", tokens_[id]}, {"ids", json::array({id})}, {"tokens", json::array({tokens_[id]})}};
    return json{{"SpecialToken", {{"id", tokens_[id]}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) { return json{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  const bool bos = add_bos_ && bos_, eos = add_eos_ && eos_;
  if (!bos && !eos) return nullptr;
  if (bos) single.push_back(special(*bos_, 0));
  single.push_back(sequence("A", 0));
  if (eos) single.push_back(special(*eos_, 0));
  if (bos) pair.push_back(special(*bos_, 0));
  pair.push_back(sequence("A", 0));
  if (eos) pair.push_back(special(*eos_, 0));
  if (bos) pair.push_back(special(*bos_, 1));
  pair.push_back(sequence("B", 1));
  if (eos) pair.push_back(special(*eos_, 1));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

json from_gguf::sentencepiece_model() {
  const char* scores_key = "tokenizer.ggml.scores";
  std::vector<float> scores(tokens_.size(), 0.0f);
  if (const gguf_array* s = md_.find_array(scores_key)) {
    if (s->items.size() != tokens_.size())
      fail(md_.where(scores_key), "has " + std::to_string(s->items.size()) + " entries, expected one per token (" +
                                      std::to_string(tokens_.size()) + ")",
           convert_hint);
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const std::optional<double> v = s->items[i].as_f64();
      if (!v || !std::isfinite(*v))
        fail(where_item(scores_key, i), v ? "score is not finite, expected a finite number"
                                          : std::string("expected a number, found a ") + gguf_type_name(s->items[i].type()),
             convert_hint);
      scores[i] = float(*v);
    }
  }
  json vocab = json::object();
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (ids_.at(tokens_[i]) == int32_t(i)) vocab[tokens_[i]] = i;
  json merges = json::array();
  for (const auto& [l, r] : gguf_tok::sentencepiece_merges(tokens_, scores)) merges.push_back({tokens_[l], tokens_[r]});
  const bool byte_fallback = std::find(types_.begin(), types_.end(), int32_t(token_type::byte)) != types_.end();
  return {{"type", "BPE"},          {"dropout", nullptr},
          {"unk_token", unk_ ? json(tokens_[*unk_]) : json(nullptr)},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", true},       {"byte_fallback", byte_fallback},
          {"ignore_merges", false}, {"vocab", std::move(vocab)},
          {"merges", std::move(merges)}};
}

json from_gguf::byte_level_model() {
  const char* merges_key = "tokenizer.ggml.merges";
  const gguf_array& list = md_.get_array(merges_key, gguf_value_type::string);
  json merges = json::array();
  for (size_t i = 0; i < list.items.size(); ++i) {
    const std::string& m = *list.items[i].get_if<std::string>();
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (space == std::string::npos || space + 1 >= m.size())
      fail(where_item(merges_key, i), "merge " + quote_name(m) + " is not two tokens separated by a space", convert_hint);
    const std::string a = m.substr(0, space), b = m.substr(space + 1);
    for (const std::string* part : {&a, &b, static_cast<const std::string*>(nullptr)}) {
      const std::string piece = part ? *part : a + b;
      if (!ids_.count(piece))
        fail(where_item(merges_key, i), "merge " + quote_name(m) + ": " + (part ? "token " : "merged token ") +
                                            quote_name(piece) + " is not in " + tokens_key,
             convert_hint);
    }
    merges.push_back({a, b});
  }
  const std::string* pre_name = md_.find_string("tokenizer.ggml.pre");
  const std::string pre = pre_name ? *pre_name : "default";
  const gguf_tok::pre_config* config = gguf_tok::find_pre_config(pre);
  if (!config)
    fail(md_.where("tokenizer.ggml.pre"), "unknown pre-tokenizer " + quote_name(pre) + ", expected one of " +
                                              gguf_tok::known_pre_names(),
         "owl does not know this model's pre-tokenizer regex; convert from the Hugging Face folder instead");
  json vocab = json::object();
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (ids_.at(tokens_[i]) == int32_t(i)) vocab[tokens_[i]] = i;
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", config->ignore_merges},
          {"vocab", std::move(vocab)},
          {"merges", std::move(merges)}};
}

json from_gguf::config() const {
  json c = json::object();
  auto token_or_null = [&](std::optional<int32_t> id) { return id ? json(tokens_[*id]) : json(nullptr); };
  c["add_bos_token"] = add_bos_;
  c["add_eos_token"] = add_eos_;
  c["bos_token"] = token_or_null(bos_);
  c["eos_token"] = token_or_null(eos_);
  c["unk_token"] = token_or_null(unk_);
  c["pad_token"] = token_or_null(pad_);
  c["clean_up_tokenization_spaces"] = false;
  if (const std::string* t = md_.find_string("tokenizer.chat_template")) {
    if (size_t bad = detail::invalid_utf8_offset(*t); bad != std::string::npos)
      fail(md_.where("tokenizer.chat_template"), "is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")",
           convert_hint);
    c["chat_template"] = *t;
  }
  return c;
}

gguf_tokenizer_json from_gguf::run() {
  const char* model_key = "tokenizer.ggml.model";
  if (!md_.find(model_key))
    fail(md_.where(model_key), "missing: the file carries no tokenizer",
         "use the original Hugging Face tokenizer.json with this model");
  model_ = md_.get_string(model_key);
  if (model_ != "llama" && model_ != "gpt2")
    fail(md_.where(model_key), "unsupported tokenizer model " + quote_name(model_) +
                                   ", expected 'llama' (SentencePiece) or 'gpt2' (byte-level BPE)",
         "use the original Hugging Face tokenizer.json with this model");
  read_tokens();
  const bool sentencepiece = model_ == "llama";
  bos_ = token_id_key("tokenizer.ggml.bos_token_id");
  eos_ = token_id_key("tokenizer.ggml.eos_token_id");
  unk_ = token_id_key("tokenizer.ggml.unknown_token_id");
  pad_ = token_id_key("tokenizer.ggml.padding_token_id");
  if (!unk_ && sentencepiece)
    for (size_t i = 0; i < types_.size() && !unk_; ++i)
      if (types_[i] == token_type::unknown) unk_ = int32_t(i);
  // llama.cpp's defaults: SentencePiece vocabularies add BOS, byte-level ones do not.
  add_bos_ = md_.find_bool("tokenizer.ggml.add_bos_token").value_or(sentencepiece);
  add_eos_ = md_.find_bool("tokenizer.ggml.add_eos_token").value_or(false);

  json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added_tokens();
  if (sentencepiece) {
    const bool prefix = md_.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    root["normalizer"] = gguf_tok::sentencepiece_normalizer(prefix);
    root["pre_tokenizer"] = nullptr;
    root["post_processor"] = post_processor();
    root["decoder"] = gguf_tok::sentencepiece_decoder(prefix);
    root["model"] = sentencepiece_model();
  } else {
    json model = byte_level_model();
    const std::string* pre_name = md_.find_string("tokenizer.ggml.pre");
    const gguf_tok::pre_config& pre = *gguf_tok::find_pre_config(pre_name ? *pre_name : "default");
    root["normalizer"] = pre.normalizer;
    root["pre_tokenizer"] = pre.pre_tokenizer;
    root["post_processor"] = post_processor();
    root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    root["model"] = std::move(model);
  }
  gguf_tokenizer_json out;
  out.tokenizer_json = root.dump();
  out.tokenizer_config_json = config().dump(2);
  return out;
}

}  // namespace

gguf_tokenizer_json tokenizer_from_gguf(const gguf_metadata_reader& metadata) { return from_gguf(metadata).run(); }

gguf_tokenizer_json tokenizer_from_gguf(const gguf_file& file) { return tokenizer_from_gguf(file.reader()); }

}  // namespace owl
