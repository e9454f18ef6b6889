// owl/convert.h — writing models as GGUF files, and re-quantizing them.
#pragma once

#include <filesystem>
#include <string>

#include "owl/dtype.h"

namespace owl {

struct gguf_convert_options {
  dtype type = dtype::f16;  // type of the 2-D weight matrices; norms and biases stay F32
  // A llama.cpp-style mix instead of one type: "Q4_K_M", "Q5_K_M" (see docs/gguf.md).
  std::string mix;
};
// Writes the Hugging Face model folder `hf_dir` as a GGUF file (architectures with a GGUF
// mapping: Llama, Mistral, Qwen2, Qwen3).
void convert_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out,
                     const gguf_convert_options& options);
// Re-quantizes the 2-D weights of a GGUF file (llama.cpp's `llama-quantize`).
void quantize_gguf(const std::filesystem::path& in, const std::filesystem::path& out,
                   const gguf_convert_options& options);

// "F16", "Q8_0", "Q4_K_M", ... -> options; an unknown name is an owl::error listing the known ones.
gguf_convert_options parse_gguf_type(const std::string& name);

}  // namespace owl
