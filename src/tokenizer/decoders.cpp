#include "tokenizer/decoders.h"

#include "owl/error.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

constexpr const char* supported_decoders =
    "supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, WordPiece, BPEDecoder, Sequence";

// Maps GPT-2's printable stand-ins back to bytes; a token with any other character is taken
// as its raw UTF-8. Invalid UTF-8 in the result becomes U+FFFD.
class byte_level_decoder final : public decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      size_t i = 0;
      bool ok = true;
      while (i < t.size()) {
        const int b = char_to_byte(next_code_point(t, i));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, to_valid_utf8(bytes));
  }
};

class replace_decoder final : public decoder {
 public:
  replace_decoder(std::unique_ptr<regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      const auto found = pattern_->find_all(t);
      if (found.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (const auto& [s, e] : found) {
        out.append(t, prev, s - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::unique_ptr<regex> pattern_;
  std::string content_;
};

// "<0xAB>" tokens become bytes; each run of them is kept if it is valid UTF-8, otherwise every
// byte of the run becomes one U+FFFD (tokenizers' rule).
class byte_fallback_decoder final : public decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
    };
    for (auto& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex_byte(t[3], t[4]);
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // Rust's u8::from_str_radix(.., 16) also accepts a leading '+'.
  static int parse_hex_byte(char a, char b) {
    if (a == '+') return hex(b);
    const int hi = hex(a), lo = hex(b);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class fuse_decoder final : public decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class strip_decoder final : public decoder {
 public:
  strip_decoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<size_t> offsets;  // byte offset of each character, plus the end
      for (size_t i = 0; i < t.size();) {
        offsets.push_back(i);
        next_code_point(t, i);
      }
      const size_t n = offsets.size();
      offsets.push_back(t.size());
      auto char_at = [&](size_t k) {
        size_t i = offsets[k];
        return next_code_point(t, i);
      };
      size_t first = 0;
      while (first < start_ && first < n && char_at(first) == content_) ++first;
      size_t last = n;
      for (size_t k = 0; k < stop_ && last > first && char_at(last - 1) == content_; ++k) --last;
      t = t.substr(offsets[first], offsets[last] - offsets[first]);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class metaspace_decoder final : public decoder {
 public:
  metaspace_decoder(char32_t replacement, bool strip_first) : replacement_(replacement), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      const std::string& t = tokens[k];
      std::string out;
      out.reserve(t.size());
      for (size_t i = 0; i < t.size();) {
        const char32_t c = next_code_point(t, i);
        if (c == replacement_) {
          // The first token's replacement characters stand for the space the pre-tokenizer
          // prepended, so they are dropped rather than turned back into spaces.
          if (!(k == 0 && strip_first_)) out += ' ';
        } else {
          append_utf8(out, c);
        }
      }
      tokens[k] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class wordpiece_decoder final : public decoder {
 public:
  wordpiece_decoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t = " " + t;  // (not insert(): GCC 12 -Wrestrict false positive)
      }
      if (cleanup_) t = cleanup(t);
    }
  }

 private:
  static void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
      s.replace(pos, from.size(), to);
  }
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},   {" ,", ","},   {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) replace_all(s, from, to);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

// Subword-nmt style: the end-of-word suffix becomes a space (nothing after the last token).
class bpe_decoder final : public decoder {
 public:
  explicit bpe_decoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      const std::string to = i + 1 == tokens.size() ? "" : " ";
      for (size_t pos = t.find(suffix_); pos != std::string::npos; pos = t.find(suffix_, pos + to.size()))
        t.replace(pos, suffix_.size(), to);
    }
  }

 private:
  std::string suffix_;
};

class sequence_decoder final : public decoder {
 public:
  explicit sequence_decoder(std::vector<std::unique_ptr<decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<decoder>> parts_;
};

}  // namespace

std::unique_ptr<decoder> make_decoder(const json& j, const json_path& at, int depth) {
  if (j.is_null()) return nullptr;
  if (depth > max_component_depth) fail(at.where(), "decoders nested too deeply");
  const std::string type = get_type(j, at);
  if (type == "ByteLevel") return std::make_unique<byte_level_decoder>();
  if (type == "Replace") return std::make_unique<replace_decoder>(make_pattern(j, at), get_string(j, "content", at));
  if (type == "ByteFallback") return std::make_unique<byte_fallback_decoder>();
  if (type == "Fuse") return std::make_unique<fuse_decoder>();
  if (type == "Strip") {
    const char32_t c = first_code_point(get_char(j, "content", at, " "));
    return std::make_unique<strip_decoder>(c, static_cast<size_t>(get_int(j, "start", at, 0, 1 << 20, 0)),
                                           static_cast<size_t>(get_int(j, "stop", at, 0, 1 << 20, 0)));
  }
  if (type == "Metaspace") {
    const char32_t r = first_code_point(get_char(j, "replacement", at, "\xE2\x96\x81"));
    bool strip_first = true;
    if (const auto s = get_optional_string(j, "prepend_scheme", at)) {
      if (*s != "always" && *s != "first" && *s != "never")
        fail(at.field("prepend_scheme").where(), "unknown prepend_scheme '" + *s + "'", "supported: first, always, never");
      strip_first = *s != "never";
    } else {
      strip_first = get_bool(j, "add_prefix_space", at, true);
    }
    return std::make_unique<metaspace_decoder>(r, strip_first);
  }
  if (type == "WordPiece")
    return std::make_unique<wordpiece_decoder>(get_string(j, "prefix", at, "##"), get_bool(j, "cleanup", at, true));
  if (type == "BPEDecoder") return std::make_unique<bpe_decoder>(get_string(j, "suffix", at, "</w>"));
  if (type == "Sequence") {
    const json& list = get_array(j, "decoders", at);
    std::vector<std::unique_ptr<decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto d = make_decoder(list[i], at.field("decoders").index(i), depth + 1);
      if (d) parts.push_back(std::move(d));
    }
    return std::make_unique<sequence_decoder>(std::move(parts));
  }
  fail(at.field("type").where(), "unsupported decoder '" + type + "'", supported_decoders);
}

}  // namespace owl::tok
