// fuzz_tokenizer_json.cpp — libFuzzer target: arbitrary bytes as tokenizer.json.
//
// Loading must either succeed or throw owl::error; a loaded tokenizer must encode, decode and
// stream-decode a fixed sample without crashing, leaking or invoking undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "owl/error.h"
#include "owl/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  // Exercises added tokens, spaces, digits, punctuation, non-ASCII, an emoji and invalid UTF-8.
  static const std::string sample = "<s>Hello,  world! 123 h\xC3\xA9llo \xF0\x9F\x98\x80\n\tab<mask> cab\xFF end";
  try {
    const auto tok = owl::tokenizer::from_json(json, "", "fuzz");
    for (const bool specials : {false, true}) {
      const auto ids = tok->encode(sample, specials);
      (void)tok->decode(ids, false);
      (void)tok->decode(ids, true);
      owl::stream_decoder stream(*tok);
      for (const int32_t id : ids) (void)stream.push(id);
      (void)stream.finish();
    }
    for (int32_t id = -1; id < 4; ++id) {
      (void)tok->token_piece(id);
      (void)tok->is_special(id);
    }
    (void)tok->token_id("a");
  } catch (const owl::error&) {
    // Rejected input, with a message: that is the expected outcome for most inputs.
  }
  return 0;
}
