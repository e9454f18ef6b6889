#include "tokenizer/bpe.h"

#include <cstdio>
#include <limits>
#include <queue>

#include "owl/error.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

constexpr size_t cache_capacity = 10000;   // words, as in tokenizers
constexpr size_t cache_max_word = 256;     // longer words are not worth caching
constexpr int64_t max_token_id = (int64_t{1} << 31) - 1;

struct symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
};

struct candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // std::priority_queue is a max-heap: "less" means lower priority, i.e. higher rank, then
  // later position (equal ranks merge left to right).
  bool operator<(const candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

bpe_model::bpe_model(const json& model, const json_path& at) {
  // Vocabulary: {"token": id, ...}
  const json_path vat = at.field("vocab");
  const json* vocab = find_field(model, "vocab");
  if (!vocab) fail(vat.where(), "missing vocabulary");
  expect_object(*vocab, vat);
  vocab_.reserve(vocab->size());
  for (const auto& [token, id_json] : vocab->items()) {
    if (!id_json.is_number_integer())
      fail(vat.where(), "token '" + token + "' has " + json_type_name(id_json) + " as id, expected an integer");
    const int64_t id = id_json.get<int64_t>();
    if (id < 0 || id > max_token_id) fail(vat.where(), "token '" + token + "' has out-of-range id " + std::to_string(id));
    vocab_.emplace(token, static_cast<int32_t>(id));
    if (id > max_id_) max_id_ = static_cast<int32_t>(id);
  }

  unk_token_ = get_optional_string(model, "unk_token", at);
  continuing_subword_prefix_ = get_optional_string(model, "continuing_subword_prefix", at).value_or("");
  end_of_word_suffix_ = get_optional_string(model, "end_of_word_suffix", at).value_or("");
  fuse_unk_ = get_bool(model, "fuse_unk", at, false);
  byte_fallback_ = get_bool(model, "byte_fallback", at, false);
  ignore_merges_ = get_bool(model, "ignore_merges", at, false);
  // Dropout only matters for training; inference tokenization is deterministic.
  if (const json* d = find_field(model, "dropout"); d && !d->is_number())
    fail(at.field("dropout").where(), std::string("expected a number or null, found ") + json_type_name(*d));

  byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    if (auto id = token_id(name)) byte_ids_[b] = *id;
  }

  // Merges: either "a b" strings (split on the single space) or ["a", "b"] pairs; earlier
  // merges have priority. A pair listed twice keeps its last rank, as tokenizers' map does.
  const json_path mat = at.field("merges");
  const json* merges = find_field(model, "merges");
  if (!merges) return;
  expect_array(*merges, mat);
  merges_.reserve(merges->size());
  int32_t rank = 0;
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    std::string a, b;
    if (m.is_string()) {
      const auto& line = m.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        fail(mat.index(i).where(), "merge '" + line + "' is not two tokens separated by one space");
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail(mat.index(i).where(), std::string("expected \"a b\" or [\"a\", \"b\"], found ") + json_type_name(m));
    }
    const auto a_id = token_id(a), b_id = token_id(b);
    if (!a_id || !b_id) fail(mat.index(i).where(), "merge uses token '" + (a_id ? b : a) + "' that is not in the vocabulary");
    if (b.size() < continuing_subword_prefix_.size())
      fail(mat.index(i).where(), "merge token '" + b + "' is shorter than continuing_subword_prefix");
    const std::string merged = a + b.substr(continuing_subword_prefix_.size());
    const auto new_id = token_id(merged);
    if (!new_id) fail(mat.index(i).where(), "merge result '" + merged + "' is not in the vocabulary");
    merges_[pair_key(*a_id, *b_id)] = {rank, *new_id};
    ++rank;
  }
}

std::optional<int32_t> bpe_model::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const bpe_model::merge* bpe_model::find_merge(int32_t a, int32_t b) const {
  const auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void bpe_model::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = token_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= cache_max_word;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= cache_capacity) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

void bpe_model::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id, size_t len) {
    const auto n = static_cast<int32_t>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, static_cast<uint32_t>(len)});
  };

  // 1. One symbol per character (with byte fallback / unknown-token handling).
  int32_t unk_id = -1;  // a pending unknown token (id and byte length), -1 when none
  size_t unk_len = 0;
  std::string s;
  size_t i = 0;
  while (i < word.size()) {
    const size_t start = i;
    const size_t len = std::min(utf8_seq_len(static_cast<unsigned char>(word[i])), word.size() - i);
    i += len;
    s.clear();
    if (start > 0) s += continuing_subword_prefix_;
    s.append(word.substr(start, len));
    if (i == word.size()) s += end_of_word_suffix_;

    if (auto id = token_id(s)) {
      if (unk_id >= 0) add(unk_id, unk_len);
      unk_id = -1;
      add(*id, len);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (const char c : s) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        // tokenizers adds the byte tokens without flushing a pending unknown token first.
        for (const char c : s) add(byte_ids_[static_cast<uint8_t>(c)], 1);
        continue;
      }
    }
    if (unk_token_) {
      const auto id = token_id(*unk_token_);
      if (!id) fail("tokenizer.json: model.unk_token", "unknown token '" + *unk_token_ + "' is not in the vocabulary");
      if (unk_id >= 0 && fuse_unk_) {
        unk_len += len;
      } else {
        if (unk_id >= 0) add(unk_id, unk_len);
        unk_id = *id;
        unk_len = len;
      }
    }
    // Without unk_token or byte fallback the character is dropped, as tokenizers does.
  }
  if (unk_id >= 0) add(unk_id, unk_len);

  // 2. Apply merges, lowest rank first.
  std::priority_queue<candidate> queue;
  for (size_t k = 0; k + 1 < symbols.size(); ++k) {
    if (const merge* m = find_merge(symbols[k].id, symbols[k + 1].id))
      queue.push({m->rank, static_cast<int32_t>(k), m->new_id});
  }
  while (!queue.empty()) {
    const candidate top = queue.top();
    queue.pop();
    symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    const int32_t next_pos = cur.next;
    const symbol right = symbols[next_pos];
    // Skip stale entries: the pair at this position must still produce the same token.
    const merge* m = find_merge(cur.id, right.id);
    if (!m || m->new_id != top.new_id) continue;

    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;

    if (cur.prev >= 0) {
      if (const merge* pm = find_merge(symbols[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->new_id});
    }
    if (cur.next >= 0) {
      if (const merge* nm = find_merge(cur.id, symbols[cur.next].id)) queue.push({nm->rank, top.pos, nm->new_id});
    }
  }
  for (const auto& sym : symbols)
    if (sym.len != 0) out.push_back(sym.id);
}

}  // namespace owl::tok
