// tokenizer.cpp — owl::tokenizer for Hugging Face tokenizer.json files.
//
// The encode pipeline is the one of the `tokenizers` library:
//   1. added tokens with normalized=false are cut out of the raw text,
//   2. each remaining piece is normalized, then normalized=true added tokens are cut out,
//   3. the pre-tokenizer splits the rest into words, the BPE model encodes each word,
//   4. with special tokens: the post-processor, then tokenizer_config.json's add_bos/eos_token.
#include "owl/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "owl/error.h"
#include "tokenizer/added_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_util.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode.h"

namespace owl {

namespace {

using tok::json;
using tok::json_path;

enum class token_kind : uint8_t { none, model, added, special };

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...}, or null.
std::string config_token(const json& config, const char* key, const json_path& at) {
  const json* v = tok::find_field(config, key);
  if (!v) return {};
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return tok::get_string(*v, "content", at.field(key));
  fail(at.field(key).where(), std::string("expected a string or an object with \"content\", found ") +
                                  tok::json_type_name(*v));
}

class hf_tokenizer final : public tokenizer {
 public:
  hf_tokenizer(std::string_view tokenizer_json, std::string_view config_json, const tokenizer_options& options,
               const std::string& tokenizer_label,
               const std::string& config_label);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const override;
  size_t vocab_size() const override { return pieces_.size(); }
  std::string token_piece(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < pieces_.size() ? pieces_[id] : std::string();
  }
  std::optional<int32_t> token_id(std::string_view piece) const override;
  bool is_special(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < kinds_.size() && kinds_[id] == token_kind::special;
  }
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::string bos_token() const override { return bos_token_; }
  std::string eos_token() const override { return eos_token_; }

 private:
  void load_added_tokens(const json& root, const json_path& at);
  void load_config(std::string_view config_json, const std::string& label);
  void emulate_transformers_v5_llama(std::string_view config_json, const std::string& label);

  std::unique_ptr<tok::normalizer> normalizer_;
  std::unique_ptr<tok::pre_tokenizer> pre_tokenizer_;
  std::unique_ptr<tok::bpe_model> model_;
  std::unique_ptr<tok::post_processor> post_processor_;
  std::unique_ptr<tok::decoder> decoder_;
  tok::added_vocab added_;
  std::unordered_map<std::string, int32_t> added_ids_;

  std::vector<std::string> pieces_;  // id -> token string
  std::vector<token_kind> kinds_;

  std::string bos_token_, eos_token_;
  std::optional<int32_t> bos_id_, eos_id_;
  bool add_bos_ = false, add_eos_ = false;
  bool post_adds_bos_ = false, post_adds_eos_ = false;
};

hf_tokenizer::hf_tokenizer(std::string_view tokenizer_json, std::string_view config_json, const tokenizer_options& options,
                           const std::string& tokenizer_label, const std::string& config_label) {
  const json root = tok::parse_json(tokenizer_json, tokenizer_label);
  const json_path top{tokenizer_label, ""};
  tok::expect_object(root, top);

  // The model first: everything else refers to its vocabulary.
  const json_path mat = top.field("model");
  const json* model = tok::find_field(root, "model");
  if (!model) fail(mat.where(), "missing model");
  tok::expect_object(*model, mat);
  std::string type = tok::get_string(*model, "type", mat, std::string());
  if (type.empty() && model->contains("merges")) type = "BPE";  // very old files omit the tag
  if (type != "BPE")
    fail(mat.field("type").where(), "unsupported model type '" + type + "'",
         "supported: BPE (byte-level and SentencePiece-style)");
  model_ = std::make_unique<tok::bpe_model>(*model, mat);

  normalizer_ = tok::make_normalizer(root.value("normalizer", json()), top.field("normalizer"));
  pre_tokenizer_ = tok::make_pre_tokenizer(root.value("pre_tokenizer", json()), top.field("pre_tokenizer"));
  decoder_ = tok::make_decoder(root.value("decoder", json()), top.field("decoder"));

  // id -> piece table over the model vocabulary and the added tokens.
  const auto& vocab = model_->vocab();
  size_t size = static_cast<size_t>(model_->max_id() + 1);
  load_added_tokens(root, top);  // fills added_ids_ and added_
  for (const auto& [content, id] : added_ids_) size = std::max(size, static_cast<size_t>(id) + 1);
  // Ids may leave holes, but a handful of entries must not make us allocate gigabytes.
  const size_t entries = vocab.size() + added_ids_.size();
  if (size > 4 * entries + 65536)
    fail(top.where(), "token ids up to " + std::to_string(size - 1) + " for only " + std::to_string(entries) +
                          " tokens", "the vocabulary ids are implausibly sparse");
  pieces_.resize(size);
  kinds_.assign(size, token_kind::none);
  for (const auto& [token, id] : vocab) {
    pieces_[id] = token;
    kinds_[id] = token_kind::model;
  }
  for (const auto& t : added_.tokens()) {
    // A content listed twice shares one id; it is special if any listing says so.
    pieces_[t.id] = t.content;
    if (kinds_[t.id] != token_kind::special) kinds_[t.id] = t.special ? token_kind::special : token_kind::added;
  }

  post_processor_ = tok::make_post_processor(root.value("post_processor", json()), top.field("post_processor"), size);
  load_config(config_json, config_label);
  if (options.transformers_v5_llama) emulate_transformers_v5_llama(config_json, config_label);
}

// transformers 5.x's LlamaTokenizer keeps only the vocabulary and merges of tokenizer.json and
// installs its own pipeline: no normalizer, Metaspace("▁", no split) and a SentencePiece
// decoder. Over a byte-level vocabulary "▁" and raw control characters are not tokens, so the
// BPE model drops them, exactly as the tokenizers library does without an unknown token.
void hf_tokenizer::emulate_transformers_v5_llama(std::string_view config_json, const std::string& label) {
  if (config_json.empty()) return;
  const json config = tok::parse_json(config_json, label);
  const std::string cls = config.value("tokenizer_class", std::string());
  if (cls != "LlamaTokenizer" && cls != "LlamaTokenizerFast") return;
  const json_path at{label + " (transformers 5.x LlamaTokenizer)", ""};
  const bool legacy = config.contains("legacy") && config["legacy"].is_boolean() ? config["legacy"].get<bool>() : true;
  const bool add_prefix_space =
      config.contains("add_prefix_space") && config["add_prefix_space"].is_boolean() ? config["add_prefix_space"].get<bool>() : true;
  normalizer_.reset();
  pre_tokenizer_ = tok::make_pre_tokenizer(
      json{{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"split", false},
           {"prepend_scheme", !add_prefix_space ? "never" : legacy ? "always" : "first"}},
      at);
  decoder_ = tok::make_decoder(json{{"type", "Sequence"},
                                    {"decoders", json::array({json{{"type", "Replace"},
                                                                   {"pattern", {{"String", "\xE2\x96\x81"}}},
                                                                   {"content", " "}},
                                                              json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}}})}},
                               at);
}

void hf_tokenizer::load_added_tokens(const json& root, const json_path& top) {
  const json* list = tok::find_field(root, "added_tokens");
  std::vector<tok::added_token> tokens;
  if (list) {
    const json_path at = top.field("added_tokens");
    tok::expect_array(*list, at);
    for (size_t i = 0; i < list->size(); ++i) {
      const json& j = (*list)[i];
      const json_path tat = at.index(i);
      tok::expect_object(j, tat);
      tok::added_token t;
      t.content = tok::get_string(j, "content", tat);
      t.special = tok::get_bool(j, "special", tat, false);
      t.single_word = tok::get_bool(j, "single_word", tat, false);
      t.lstrip = tok::get_bool(j, "lstrip", tat, false);
      t.rstrip = tok::get_bool(j, "rstrip", tat, false);
      t.normalized = tok::get_bool(j, "normalized", tat, !t.special);
      t.id = static_cast<int32_t>(tok::get_int(j, "id", tat, 0, (int64_t{1} << 31) - 1));
      if (t.content.empty()) continue;  // tokenizers ignores empty added tokens
      // Like tokenizers: content already in the model vocabulary keeps the model's id, and
      // one content has one id.
      if (auto model_id = model_->token_id(t.content)) t.id = *model_id;
      const auto [it, inserted] = added_ids_.emplace(t.content, t.id);
      t.id = it->second;
      tokens.push_back(std::move(t));
    }
  }
  // Normalized added tokens are matched by their normalized form.
  added_.build(std::move(tokens), [this](const std::string& content) {
    std::string s = content;
    if (normalizer_) normalizer_->normalize(s);
    return s;
  });
}

void hf_tokenizer::load_config(std::string_view config_json, const std::string& label) {
  if (config_json.empty()) return;
  const json config = tok::parse_json(config_json, label);
  const json_path at{label, ""};
  tok::expect_object(config, at);
  bos_token_ = config_token(config, "bos_token", at);
  eos_token_ = config_token(config, "eos_token", at);
  if (!bos_token_.empty()) bos_id_ = token_id(bos_token_);
  if (!eos_token_.empty()) eos_id_ = token_id(eos_token_);
  add_bos_ = tok::get_bool(config, "add_bos_token", at, false);
  add_eos_ = tok::get_bool(config, "add_eos_token", at, false);

  // Whether the post-processor itself adds BOS/EOS (probe it with an empty sequence), so
  // that add_bos_token / add_eos_token never add a second one.
  if (post_processor_) {
    std::vector<int32_t> probe;
    post_processor_->process(probe);
    auto contains = [&](std::optional<int32_t> id) {
      return id && std::find(probe.begin(), probe.end(), *id) != probe.end();
    };
    post_adds_bos_ = contains(bos_id_);
    post_adds_eos_ = contains(eos_id_);
  }
}

std::optional<int32_t> hf_tokenizer::token_id(std::string_view piece) const {
  if (const auto it = added_ids_.find(std::string(piece)); it != added_ids_.end()) return it->second;
  return model_->token_id(piece);
}

std::vector<int32_t> hf_tokenizer::encode(std::string_view input, bool add_special_tokens) const {
  // Text from users may be any bytes; tokenizers only ever sees valid UTF-8 (Rust &str).
  const std::string text = tok::to_valid_utf8(input);

  std::vector<tok::piece> pieces;
  if (!text.empty()) added_.split_raw(tok::piece{text, -1, true}, pieces);

  std::vector<tok::piece> normalized;
  normalized.reserve(pieces.size());
  for (auto& p : pieces) {
    if (p.id >= 0) {
      normalized.push_back(std::move(p));
      continue;
    }
    if (normalizer_) normalizer_->normalize(p.text);
    added_.split_normalized(p, normalized);
  }
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(normalized);

  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const auto& p : normalized) {
    if (p.id >= 0) ids.push_back(p.id);
    else model_->tokenize(p.text, ids);
  }

  if (add_special_tokens) {
    if (post_processor_) post_processor_->process(ids);
    // transformers' LlamaTokenizer-style add_bos_token / add_eos_token, never doubling what
    // the post-processor already adds.
    if (add_bos_ && bos_id_ && !post_adds_bos_) ids.insert(ids.begin(), *bos_id_);
    if (add_eos_ && eos_id_ && !post_adds_eos_) ids.push_back(*eos_id_);
  }
  return ids;
}

std::string hf_tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    // Unknown ids are skipped, as in tokenizers.
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size() || kinds_[id] == token_kind::none) continue;
    if (skip_special_tokens && kinds_[id] == token_kind::special) continue;
    tokens.push_back(pieces_[id]);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::string read_file(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), std::string("cannot open ") + what, "check the model directory");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path.string(), std::string("cannot read ") + what);
  return ss.str();
}

}  // namespace

std::unique_ptr<tokenizer> tokenizer::from_dir(const std::filesystem::path& dir, const tokenizer_options& options) {
  const auto tokenizer_path = dir / "tokenizer.json";
  const auto config_path = dir / "tokenizer_config.json";
  std::error_code ec;
  if (!std::filesystem::exists(tokenizer_path, ec))
    fail(tokenizer_path.string(), "file not found", "owl needs a Hugging Face tokenizer.json next to the model");
  const std::string tokenizer_json = read_file(tokenizer_path, "tokenizer.json");
  std::string config_json;
  if (std::filesystem::exists(config_path, ec)) config_json = read_file(config_path, "tokenizer_config.json");
  return std::make_unique<hf_tokenizer>(tokenizer_json, config_json, options, tokenizer_path.string(),
                                        config_path.string());
}

std::unique_ptr<tokenizer> tokenizer::from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                                                const std::string& source, const tokenizer_options& options) {
  const std::string label = source.empty() ? "tokenizer.json" : source;
  return std::make_unique<hf_tokenizer>(tokenizer_json, tokenizer_config_json, options, label,
                                        label + " (tokenizer_config.json)");
}

}  // namespace owl
