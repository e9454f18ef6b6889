// make_synthetic — a Hugging Face folder with the shape of a real model and random weights,
// for benchmarks (no real weights can be downloaded in CI). Default shape: Llama-3.2-1B.
// usage: owl_make_synthetic OUT_DIR TOKENIZER_DIR [--layers N]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "owl/dtype.h"
#include "owl/error.h"
#include "owl/safetensors.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: owl_make_synthetic OUT_DIR TOKENIZER_DIR [--layers N]\n");
    return 2;
  }
  const fs::path out = argv[1], tokenizer_dir = argv[2];
  int64_t layers = 16;
  for (int i = 3; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--layers") == 0) layers = std::stoll(argv[i + 1]);
  const int64_t hidden = 2048, ffn = 8192, heads = 32, kv_heads = 8, head_dim = 64, vocab = 128256;
  try {
    fs::create_directories(out);
    nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                             {"hidden_size", hidden}, {"intermediate_size", ffn}, {"num_hidden_layers", layers},
                             {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads},
                             {"vocab_size", vocab}, {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5},
                             {"rope_theta", 500000.0}, {"tie_word_embeddings", true}, {"hidden_act", "silu"},
                             {"bos_token_id", 128000}, {"eos_token_id", 128001}, {"torch_dtype", "bfloat16"}};
    std::ofstream(out / "config.json") << config.dump(2);
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
      if (fs::exists(tokenizer_dir / name)) fs::copy_file(tokenizer_dir / name, out / name, fs::copy_options::overwrite_existing);

    // BF16 weights ~ N(0, 0.02), norms 1: the magnitudes of a trained model, random directions.
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<std::string> names;
    std::vector<std::vector<int64_t>> shapes;
    auto add = [&](std::string name, std::vector<int64_t> shape) {
      names.push_back(std::move(name));
      shapes.push_back(std::move(shape));
    };
    add("model.embed_tokens.weight", {vocab, hidden});
    add("model.norm.weight", {hidden});
    for (int64_t l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "input_layernorm.weight", {hidden});
      add(p + "post_attention_layernorm.weight", {hidden});
      add(p + "self_attn.q_proj.weight", {heads * head_dim, hidden});
      add(p + "self_attn.k_proj.weight", {kv_heads * head_dim, hidden});
      add(p + "self_attn.v_proj.weight", {kv_heads * head_dim, hidden});
      add(p + "self_attn.o_proj.weight", {hidden, heads * head_dim});
      add(p + "mlp.gate_proj.weight", {ffn, hidden});
      add(p + "mlp.up_proj.weight", {ffn, hidden});
      add(p + "mlp.down_proj.weight", {hidden, ffn});
    }
    std::vector<std::vector<uint16_t>> data(names.size());
    std::vector<owl::tensor_to_write> tensors;
    for (size_t i = 0; i < names.size(); ++i) {
      int64_t count = 1;
      for (int64_t d : shapes[i]) count *= d;
      data[i].resize(size_t(count));
      const bool norm = shapes[i].size() == 1;
      for (auto& v : data[i]) v = owl::f32_to_bf16(norm ? 1.0f : normal(rng));
      tensors.push_back({names[i], owl::dtype::bf16, shapes[i], std::as_bytes(std::span(data[i]))});
    }
    owl::write_safetensors(out / "model.safetensors", tensors);
    std::printf("wrote %s (%lld layers)\n", out.c_str(), static_cast<long long>(layers));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "owl_make_synthetic: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
