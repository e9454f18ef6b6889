// owl/error.h — the one error type every untrusted-input boundary throws.
//
// Files, configs, requests and templates are untrusted. When one is wrong we say where (file,
// tensor or field), what was expected, what was found, and a hint, in one line. The CLI prints
// that line and exits non-zero; nothing crashes.
#pragma once

#include <stdexcept>
#include <string>

namespace owl {

class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(message) {}
};

// Throws owl::error with the message "WHERE: PROBLEM (hint: HINT)".
// where: a file path, "file: tensor 'name'", "config.json: field 'x'"...
// problem: what is wrong, ideally "expected X, found Y".
[[noreturn]] void fail(const std::string& where, const std::string& problem,
                       const std::string& hint = {});

}  // namespace owl
