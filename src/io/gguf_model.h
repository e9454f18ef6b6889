// gguf_model.h — models in GGUF files: read as (config.json, renamed tensors), and written from a
// Hugging Face folder in llama.cpp's conventions so that both runtimes load the same file.
//
// Names, metadata keys and layouts are mapped once here, at load: the decoder sees the same
// canonical weights whether they came from safetensors or GGUF.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "arch/model_config.h"
#include "owl/convert.h"
#include "owl/dtype.h"
#include "owl/safetensors.h"

namespace owl {

// True when `path` is a file that starts with the GGUF magic.
bool is_gguf_file(const std::filesystem::path& path);

struct gguf_model_source {
  // The metadata read as a Hugging Face config.json would say it, parsed; plus what JSON cannot
  // carry (llama.cpp's per-pair rope factors, rope_freqs.weight).
  model_config config;
  nlohmann::json generation_config;  // eos/bos ids
  std::unique_ptr<weight_store> store;  // tensors under Hugging Face names, [rows, cols] order
};
gguf_model_source read_gguf_model(const std::filesystem::path& path);

}  // namespace owl
