// tokenizer/regex.h — PCRE2 regexes that behave like the Oniguruma ones `tokenizers` uses.
//
// Why PCRE2: HF patterns need Unicode properties (\p{L}, \p{N}) and look-ahead (GPT-2's
// `\s+(?!\S)`), which std::regex lacks; PCRE2 has both, a JIT, and match limits that turn
// catastrophic backtracking into an error instead of a hang.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace owl::tok {

// One piece of a string cut by a pattern: [begin, end) and whether the pattern matched it.
struct match_span {
  size_t begin;
  size_t end;
  bool is_match;
};

class regex {
 public:
  // Compiles an Oniguruma-syntax pattern (as found in tokenizer.json). `where` names the JSON
  // field for error messages. Invalid patterns throw owl::error.
  regex(std::string_view pattern, const std::string& where);
  ~regex();
  regex(const regex&) = delete;
  regex& operator=(const regex&) = delete;

  // A regex matching `literal` exactly (tokenizers escapes String patterns into regexes).
  static std::unique_ptr<regex> literal(std::string_view literal, const std::string& where);

  // All matches, left to right, with Oniguruma's find_iter rules for empty matches.
  // `text` must be valid UTF-8. Hitting the backtracking limit throws owl::error.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // The matches plus the gaps between them, covering all of `text` (tokenizers' Pattern).
  std::vector<match_span> find_matches(std::string_view text) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Rewrites Oniguruma-only escapes into PCRE2 syntax (exposed for tests).
std::string translate_oniguruma(std::string_view pattern);

}  // namespace owl::tok
