// io/gguf_tokenizer_write.cpp — tokenizer.ggml.* keys from a Hugging Face tokenizer folder.
//
// The reverse of gguf_tokenizer.cpp, written so that the round trip gives the same ids. A BPE
// tokenizer.json is either SentencePiece-style (Prepend/Replace normalizer or Metaspace) and
// stored as "llama" — its merges become scores (the merged piece's first rank), and we check that
// the converter's rule rebuilds exactly these merges — or byte-level and stored as "gpt2" with
// its merges and a tokenizer.ggml.pre name found by comparing its normalizer and pre-tokenizer to
// the known ones. Anything that cannot be represented is an owl::error, never a silent change.
#include <algorithm>
#include <unordered_map>

#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer_common.h"
#include "io/safetensors_common.h"
#include "owl/error.h"
#include "tokenizer/json_util.h"

namespace owl {

namespace {

using gguf_tok::json;
using gguf_tok::token_type;
using detail::quote_name;

constexpr size_t max_tokenizer_json_bytes = size_t(512) << 20;
constexpr const char* unsupported_hint = "owl can store BPE tokenizers in the Llama (SentencePiece) or GPT-2 "
                                         "(byte-level) form of GGUF; see docs/gguf.md";

std::string type_of(const json& j) {
  if (!j.is_object()) return {};
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class to_gguf {
 public:
  explicit to_gguf(const std::filesystem::path& dir) : dir_(dir) {}
  void run(gguf_writer& writer);

 private:
  void load();
  void build_table();
  std::vector<std::pair<int32_t, int32_t>> hf_merges() const;
  bool sentencepiece_form(bool& add_space_prefix) const;
  std::vector<float> sentencepiece_scores(const std::vector<std::pair<int32_t, int32_t>>& merges) const;
  const gguf_tok::pre_config& detect_pre() const;
  void specials();
  std::optional<int32_t> config_token(const char* key) const;
  void chat_templates(std::vector<std::pair<std::string, gguf_value>>& kv) const;
  std::optional<int32_t> id_of(const std::string& piece) const {
    auto it = ids_.find(piece);
    return it == ids_.end() ? std::nullopt : std::optional<int32_t>(it->second);
  }

  std::filesystem::path dir_;
  std::string file_;    // tokenizer.json path, for messages
  std::string config_file_;
  json root_, model_, config_ = json::object();
  std::vector<std::string> pieces_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> ids_;
  std::optional<int32_t> bos_, eos_, unk_, pad_;
  bool add_bos_ = false, add_eos_ = false;
};

void to_gguf::load() {
  const std::filesystem::path path = dir_ / "tokenizer.json";
  file_ = path.string();
  root_ = tok::parse_json(read_text_file(path, max_tokenizer_json_bytes), file_);
  if (!root_.is_object()) fail(file_, "expected a JSON object", "is this a tokenizer.json file?");
  const std::filesystem::path config_path = dir_ / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    config_file_ = config_path.string();
    config_ = tok::parse_json(read_text_file(config_path), config_file_);
    if (!config_.is_object()) fail(config_file_, "expected a JSON object", "is this a tokenizer_config.json file?");
  }
  auto it = root_.find("model");
  if (it == root_.end() || !it->is_object()) fail(file_ + ": model", "missing or not an object");
  model_ = *it;
  const std::string type = type_of(model_);
  if (type != "BPE" && !(type.empty() && model_.contains("merges")))
    fail(file_ + ": model.type", "unsupported model type " + quote_name(type) + ", expected BPE", unsupported_hint);
}

// id -> piece over the vocabulary and the added tokens, with llama.cpp's token types.
void to_gguf::build_table() {
  auto vit = model_.find("vocab");
  if (vit == model_.end() || !vit->is_object()) fail(file_ + ": model.vocab", "missing or not an object");
  const json added = root_.value("added_tokens", json::array());
  if (!added.is_array()) fail(file_ + ": added_tokens", "expected an array");
  int64_t max_id = -1;
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const auto& [piece, id] : vit->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(file_ + ": model.vocab", "token " + quote_name(piece) + " has an invalid id, expected 0..2^31-1");
    entries.emplace_back(id.get<int64_t>(), piece);
    max_id = std::max(max_id, id.get<int64_t>());
  }
  struct added_entry {
    int64_t id;
    std::string content;
    bool special;
  };
  std::vector<added_entry> added_list;
  for (size_t i = 0; i < added.size(); ++i) {
    const json& a = added[i];
    const std::string at = file_ + ": added_tokens[" + std::to_string(i) + "]";
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string())
      fail(at, "expected an object with an integer id and a string content");
    const int64_t id = a["id"].get<int64_t>();
    if (id < 0 || id > INT32_MAX) fail(at, "id " + std::to_string(id) + " is out of range");
    const bool special = a.contains("special") && a["special"].is_boolean() && a["special"].get<bool>();
    added_list.push_back({id, a["content"].get<std::string>(), special});
    max_id = std::max(max_id, id);
  }
  if (max_id < 0) fail(file_ + ": model.vocab", "expected at least one token, found none");
  if (uint64_t(max_id) > 4 * (entries.size() + added_list.size()) + 65536)
    fail(file_, "token ids up to " + std::to_string(max_id) + " for only " +
                    std::to_string(entries.size() + added_list.size()) + " tokens",
         "the vocabulary ids are implausibly sparse");
  std::vector<bool> filled(size_t(max_id) + 1, false);
  pieces_.assign(size_t(max_id) + 1, std::string());
  types_.assign(size_t(max_id) + 1, token_type::normal);
  for (auto& [id, piece] : entries) {
    if (filled[size_t(id)])
      fail(file_ + ": model.vocab", "id " + std::to_string(id) + " is used by two tokens, " +
                                        quote_name(pieces_[size_t(id)]) + " and " + quote_name(piece));
    pieces_[size_t(id)] = piece;
    filled[size_t(id)] = true;
  }
  std::unordered_map<std::string, int64_t> vocab_ids;
  for (const auto& [id, piece] : entries) vocab_ids.emplace(piece, id);
  for (const added_entry& a : added_list) {
    // Content already in the vocabulary keeps its vocabulary id (as the tokenizers library does).
    auto in_vocab = vocab_ids.find(a.content);
    const int64_t id = in_vocab != vocab_ids.end() ? in_vocab->second : a.id;
    if (filled[size_t(id)] && pieces_[size_t(id)] != a.content)
      fail(file_ + ": added_tokens", "token " + quote_name(a.content) + " has id " + std::to_string(id) +
                                         ", which the vocabulary gives to " + quote_name(pieces_[size_t(id)]),
           "one id, one token: the file is inconsistent");
    pieces_[size_t(id)] = a.content;
    filled[size_t(id)] = true;
    types_[size_t(id)] = a.special ? token_type::control : token_type::user_defined;
  }
  for (size_t id = 0; id < pieces_.size(); ++id)
    if (!filled[id]) {
      pieces_[id] = "[PAD" + std::to_string(id) + "]";
      types_[id] = token_type::unused;
    }
  for (size_t id = 0; id < pieces_.size(); ++id) {
    if (size_t bad = detail::invalid_utf8_offset(pieces_[id]); bad != std::string::npos)
      fail(file_, "token " + std::to_string(id) + " is not valid UTF-8");
    ids_.emplace(pieces_[id], int32_t(id));
  }
}

std::vector<std::pair<int32_t, int32_t>> to_gguf::hf_merges() const {
  std::vector<std::pair<int32_t, int32_t>> out;
  auto mit = model_.find("merges");
  if (mit == model_.end() || mit->is_null()) return out;
  if (!mit->is_array()) fail(file_ + ": model.merges", "expected an array");
  for (size_t i = 0; i < mit->size(); ++i) {
    const json& m = (*mit)[i];
    const std::string at = file_ + ": model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (m.is_string()) {
      const std::string& line = m.get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        fail(at, "merge " + quote_name(line) + " is not two tokens separated by one space");
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail(at, "expected \"a b\" or [\"a\", \"b\"]");
    }
    auto ia = id_of(a), ib = id_of(b);
    if (!ia || !ib || !id_of(a + b)) fail(at, "merge " + quote_name(a + " " + b) + " uses a token missing from the vocabulary");
    out.emplace_back(*ia, *ib);
  }
  return out;
}

// SentencePiece-style: the Llama normalizer (Prepend "▁" + Replace " " -> "▁", or Replace only),
// or Metaspace pre-tokenization with split off.
bool to_gguf::sentencepiece_form(bool& add_space_prefix) const {
  const json norm = gguf_tok::canonical_normalizer(root_.value("normalizer", json()));
  const json pre = root_.value("pre_tokenizer", json());
  const json replace = json{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", gguf_tok::sp_space}};
  const json prepend = json{{"type", "Prepend"}, {"prepend", gguf_tok::sp_space}};
  if (pre.is_null()) {
    if (norm == json::array({prepend, replace})) return add_space_prefix = true;
    if (norm == json::array({replace})) {
      add_space_prefix = false;
      return true;
    }
    return false;
  }
  if (type_of(pre) == "Metaspace" && norm.empty() && pre.value("replacement", "") == gguf_tok::sp_space &&
      !(pre.contains("split") && pre["split"] == true)) {
    const json scheme = pre.value("prepend_scheme", json());
    if (scheme == "always" || (scheme.is_null() && pre.value("add_prefix_space", true))) return add_space_prefix = true;
    if (scheme == "never" || (scheme.is_null() && !pre.value("add_prefix_space", true))) {
      add_space_prefix = false;
      return true;
    }
    fail(file_ + ": pre_tokenizer", "Metaspace with prepend_scheme " + scheme.dump() +
                                        " cannot be stored in GGUF, expected \"always\" or \"never\"",
         unsupported_hint);
  }
  return false;
}

// Scores whose ranking rebuilds the merges: a merged piece scores minus the rank of the first
// merge that makes it; pieces no merge makes score below all of them.
std::vector<float> to_gguf::sentencepiece_scores(const std::vector<std::pair<int32_t, int32_t>>& merges) const {
  const size_t n = pieces_.size();
  std::vector<int64_t> first_rank(n, -1);
  for (size_t r = 0; r < merges.size(); ++r) {
    const int32_t made = ids_.at(pieces_[merges[r].first] + pieces_[merges[r].second]);
    if (first_rank[made] < 0) first_rank[made] = int64_t(r);
  }
  if (merges.size() + n > (size_t(1) << 24))
    fail(file_, "too many merges and tokens (" + std::to_string(merges.size() + n) +
                    ") to rank exactly with f32 scores", unsupported_hint);
  std::vector<float> scores(n);
  for (size_t id = 0; id < n; ++id)
    scores[id] = first_rank[id] >= 0 ? -float(first_rank[id]) : -float(merges.size() + id);
  const auto rebuilt = gguf_tok::sentencepiece_merges(pieces_, scores);
  if (rebuilt != merges) {
    size_t i = 0;
    while (i < rebuilt.size() && i < merges.size() && rebuilt[i] == merges[i]) ++i;
    auto show = [&](const std::vector<std::pair<int32_t, int32_t>>& list) {
      return i < list.size() ? quote_name(pieces_[list[i].first] + " " + pieces_[list[i].second]) : std::string("none");
    };
    fail(file_ + ": model.merges",
         "the merges are not the SentencePiece merges of the vocabulary (merge " + std::to_string(i) + ": expected " +
             show(rebuilt) + ", found " + show(merges) + "), so GGUF scores cannot represent them",
         unsupported_hint);
  }
  return scores;
}

const gguf_tok::pre_config& to_gguf::detect_pre() const {
  const json norm = gguf_tok::canonical_normalizer(root_.value("normalizer", json()));
  const json pre = gguf_tok::canonical_pre_tokenizer(root_.value("pre_tokenizer", json()));
  const bool ignore_merges = model_.value("ignore_merges", false);
  for (const gguf_tok::pre_config& c : gguf_tok::known_pre_configs())
    if (gguf_tok::canonical_normalizer(c.normalizer) == norm && gguf_tok::canonical_pre_tokenizer(c.pre_tokenizer) == pre &&
        c.ignore_merges == ignore_merges)
      return c;
  std::string regexes;
  for (const json& p : pre)
    if (type_of(p) == "Split") regexes += (regexes.empty() ? "" : ", ") + quote_name(p["pattern"].dump(), 200);
  fail(file_ + ": pre_tokenizer",
       "unknown byte-level pre-tokenizer (Split patterns: " + (regexes.empty() ? std::string("none") : regexes) +
           "; normalizer " + quote_name(norm.dump(), 60) + "; ignore_merges " + (ignore_merges ? "true" : "false") +
           "), expected the setup of one of " + gguf_tok::known_pre_names(),
       "owl writes tokenizer.ggml.pre only for pre-tokenizers it can read back exactly");
}

std::optional<int32_t> to_gguf::config_token(const char* key) const {
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return std::nullopt;
  std::string content;
  if (it->is_string()) content = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    content = (*it)["content"].get<std::string>();
  else
    fail(config_file_ + ": " + key, "expected a string or an object with \"content\"");
  auto id = id_of(content);
  if (!id) fail(config_file_ + ": " + key, "token " + quote_name(content) + " is not in the vocabulary");
  return id;
}

// BOS/EOS from tokenizer_config.json, else from a TemplateProcessing post-processor.
void to_gguf::specials() {
  bos_ = config_token("bos_token");
  eos_ = config_token("eos_token");
  pad_ = config_token("pad_token");
  if (auto u = model_.find("unk_token"); u != model_.end() && u->is_string()) unk_ = id_of(u->get<std::string>());
  if (unk_ && types_[*unk_] == token_type::control) types_[*unk_] = token_type::unknown;

  std::vector<json> procs;
  const json post = root_.value("post_processor", json());
  if (type_of(post) == "Sequence" && post.contains("processors") && post["processors"].is_array())
    for (const json& p : post["processors"]) procs.push_back(p);
  else if (!post.is_null())
    procs.push_back(post);
  std::optional<int32_t> template_bos, template_eos;
  for (const json& p : procs) {
    const std::string type = type_of(p);
    if (type == "ByteLevel") continue;
    if (type != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array())
      fail(file_ + ": post_processor", "post-processor " + quote_name(type) + " cannot be stored in GGUF",
           "GGUF stores only 'add BOS' and 'add EOS'");
    const json& single = p["single"];
    size_t seq = single.size();
    for (size_t i = 0; i < single.size(); ++i)
      if (single[i].contains("Sequence")) seq = i;
    for (size_t i = 0; i < single.size(); ++i) {
      if (i == seq) continue;
      const json& s = single[i];
      if (!s.contains("SpecialToken") || !s["SpecialToken"].contains("id") || !s["SpecialToken"]["id"].is_string() ||
          seq == single.size() || (i < seq ? seq != 1 : i != seq + 1))
        fail(file_ + ": post_processor.single", "template " + quote_name(single.dump(), 100) +
                                                    " is not [BOS] $A [EOS]; GGUF cannot store it");
      const std::string name = s["SpecialToken"]["id"].get<std::string>();
      auto id = id_of(name);
      if (!id) fail(file_ + ": post_processor.single", "special token " + quote_name(name) + " is not in the vocabulary");
      (i < seq ? template_bos : template_eos) = id;
    }
  }
  if (!bos_) bos_ = template_bos;
  if (!eos_ && template_eos) eos_ = template_eos;
  if (template_bos && bos_ != template_bos)
    fail(file_ + ": post_processor", "adds " + quote_name(pieces_[*template_bos]) + " but bos_token is " +
                                         quote_name(pieces_[*bos_]), "GGUF has one BOS token");
  if (template_eos && eos_ != template_eos)
    fail(file_ + ": post_processor", "adds " + quote_name(pieces_[*template_eos]) + " at the end but eos_token is " +
                                         quote_name(pieces_[*eos_]), "GGUF has one EOS token");
  auto flag = [&](const char* key, bool fallback) {
    auto it = config_.find(key);
    if (it == config_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(config_file_ + ": " + key, "expected true or false");
    return it->get<bool>();
  };
  add_bos_ = flag("add_bos_token", false) || template_bos.has_value();
  add_eos_ = flag("add_eos_token", false) || template_eos.has_value();
}

void to_gguf::chat_templates(std::vector<std::pair<std::string, gguf_value>>& kv) const {
  auto it = config_.find("chat_template");
  if (it != config_.end() && it->is_string()) {
    kv.emplace_back("tokenizer.chat_template", it->get<std::string>());
  } else if (it != config_.end() && it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") ||
          !t["template"].is_string())
        fail(config_file_ + ": chat_template", "expected a list of {\"name\", \"template\"} objects");
      const std::string name = t["name"].get<std::string>();
      kv.emplace_back(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
                      t["template"].get<std::string>());
    }
  } else if (std::error_code ec; std::filesystem::exists(dir_ / "chat_template.jinja", ec)) {
    kv.emplace_back("tokenizer.chat_template", read_text_file(dir_ / "chat_template.jinja"));
  }
}

void to_gguf::run(gguf_writer& writer) {
  load();
  build_table();
  bool add_space_prefix = true;
  const bool sentencepiece = sentencepiece_form(add_space_prefix);
  const bool byte_fallback = model_.value("byte_fallback", false);
  const std::vector<std::pair<int32_t, int32_t>> merges = hf_merges();
  if (sentencepiece) {
    if (byte_fallback)
      for (size_t id = 0; id < pieces_.size(); ++id) {
        const std::string& p = pieces_[id];
        if (types_[id] == token_type::normal && p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>')
          types_[id] = token_type::byte;
      }
  } else {
    const std::string pre = type_of(root_.value("pre_tokenizer", json()));
    if (byte_fallback || model_.value("continuing_subword_prefix", json()).is_string() ||
        model_.value("end_of_word_suffix", json()).is_string()) {
      const bool plain = !byte_fallback && model_.value("continuing_subword_prefix", std::string()).empty() &&
                         model_.value("end_of_word_suffix", std::string()).empty();
      if (!plain)
        fail(file_ + ": model", "BPE options (byte_fallback, continuing_subword_prefix, end_of_word_suffix) that "
                                "GGUF cannot store",
             unsupported_hint);
    }
    for (size_t i = 0; i < merges.size(); ++i)
      if (pieces_[merges[i].first].find(' ') != std::string::npos ||
          pieces_[merges[i].second].find(' ') != std::string::npos)
        fail(file_ + ": model.merges[" + std::to_string(i) + "]", "a merged token contains a space, which the "
                                                                  "GGUF \"a b\" merge format cannot store");
  }
  specials();
  // Everything that can fail is computed before the writer is touched.
  const std::string pre_name = sentencepiece ? std::string() : detect_pre().names.front();
  const std::vector<float> scores = sentencepiece ? sentencepiece_scores(merges) : std::vector<float>();
  std::vector<std::string> lines;
  if (!sentencepiece) {
    lines.reserve(merges.size());
    for (const auto& [a, b] : merges) lines.push_back(pieces_[a] + " " + pieces_[b]);
  }
  std::vector<std::pair<std::string, gguf_value>> kv;
  kv.emplace_back("tokenizer.ggml.model", sentencepiece ? "llama" : "gpt2");
  if (!sentencepiece) kv.emplace_back("tokenizer.ggml.pre", pre_name);
  kv.emplace_back("tokenizer.ggml.tokens", gguf_value::make_array(pieces_));
  if (sentencepiece) kv.emplace_back("tokenizer.ggml.scores", gguf_value::make_array(scores));
  kv.emplace_back("tokenizer.ggml.token_type", gguf_value::make_array(types_));
  if (!sentencepiece) kv.emplace_back("tokenizer.ggml.merges", gguf_value::make_array(lines));
  if (bos_) kv.emplace_back("tokenizer.ggml.bos_token_id", uint32_t(*bos_));
  if (eos_) kv.emplace_back("tokenizer.ggml.eos_token_id", uint32_t(*eos_));
  if (unk_) kv.emplace_back("tokenizer.ggml.unknown_token_id", uint32_t(*unk_));
  if (pad_) kv.emplace_back("tokenizer.ggml.padding_token_id", uint32_t(*pad_));
  kv.emplace_back("tokenizer.ggml.add_bos_token", add_bos_);
  kv.emplace_back("tokenizer.ggml.add_eos_token", add_eos_);
  if (sentencepiece) kv.emplace_back("tokenizer.ggml.add_space_prefix", add_space_prefix);
  chat_templates(kv);
  for (auto& [key, value] : kv) writer.set(key, std::move(value));
}

}  // namespace

void tokenizer_to_gguf(const std::filesystem::path& hf_tokenizer_dir, gguf_writer& writer) {
  try {
    to_gguf(hf_tokenizer_dir).run(writer);
  } catch (const nlohmann::json::exception& e) {
    // A field of an unexpected JSON type somewhere we read with a default.
    fail((hf_tokenizer_dir / "tokenizer.json").string(), std::string("unexpected JSON structure: ") + e.what(),
         "the tokenizer files are corrupt or of an unknown layout");
  }
}

}  // namespace owl
