// test_util.h — shared helpers for owl's tests: fixture paths, temp folders, running the CLI.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace owl::test {

// Built with AddressSanitizer: its shadow memory and slower code change what a test may measure.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool address_sanitizer = true;
#else
inline constexpr bool address_sanitizer = false;
#endif
#else
inline constexpr bool address_sanitizer = false;
#endif

// Run under an emulator (a cross build's tests under qemu, see cmake/aarch64-linux-gnu.cmake):
// correct, but many times slower than the same code on a native processor.
#if defined(OWL_TESTS_EMULATED)
inline constexpr bool emulated = true;
#else
inline constexpr bool emulated = false;
#endif

inline std::filesystem::path fixtures() {
  if (const char* env = std::getenv("OWL_FIXTURES"); env && *env) return env;
  return OWL_FIXTURES_DIR;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(read_file(path)); }

// A fresh folder under the system temp dir, removed when the object dies.
class temp_dir {
 public:
  explicit temp_dir(const std::string& tag) {
    std::string pattern = (std::filesystem::temp_directory_path() / ("owl-" + tag + "-XXXXXX")).string();
    path_ = mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct command_result {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the owl binary with `args` (already shell-quoted) and captures stdout and stderr.
inline command_result run_owl(const std::string& args) {
  temp_dir dir("cli");
  const auto out_path = dir / "stdout", err_path = dir / "stderr";
  std::string command = std::string("'") + OWL_BINARY + "' " + args + " >'" + out_path.string() + "' 2>'" +
                        err_path.string() + "' </dev/null";
  int status = std::system(command.c_str());
  command_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

// Single-quotes a string for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace owl::test
