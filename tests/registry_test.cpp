// The registry and `owl show`: every row has a fixture, every fixture loads, and the figures
// owl shows agree with what the safetensors headers say.
#include <gtest/gtest.h>

#include <set>

#include "arch/registry.h"
#include "owl/model.h"
#include "owl/safetensors.h"
#include "test_util.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> fixture_models() {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(test::fixtures() / "models")) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(Registry, EveryRowHasAFixtureAndEveryFixtureLoads) {
  std::set<std::string> covered;
  for (const fs::path& dir : fixture_models()) {
    auto m = model::load(dir, load_options{.threads = 1});
    covered.insert(m->info().architecture);
  }
  for (const arch_row& row : all_archs())
    EXPECT_TRUE(covered.count(std::string(row.hf_name))) << row.hf_name << " has no fixture in models/";
}

TEST(Registry, RowsAreUnique) {
  std::set<std::string_view> names;
  for (const arch_row& row : all_archs()) EXPECT_TRUE(names.insert(row.hf_name).second) << row.hf_name;
}

// Figures computed here from the headers alone, independently of the loader.
struct header_figures {
  int64_t total = 0;
  int64_t routed_expert = 0;  // parameters of routed experts (not shared ones)
  int64_t bytes = 0;
};

header_figures figures_from_headers(const fs::path& dir) {
  header_figures f;
  auto file = safetensors_file::open(dir / "model.safetensors");
  for (const tensor_view& t : file->tensors()) {
    f.total += t.numel();
    f.bytes += int64_t(t.nbytes);
    const bool routed = t.name.find(".experts.") != std::string::npos && t.name.find("shared_experts") == std::string::npos;
    if (routed) f.routed_expert += t.numel();
  }
  return f;
}

TEST(Registry, OwlShowFiguresMatchTheHeaders) {
  for (const fs::path& dir : fixture_models()) {
    const auto config = test::read_json(dir / "config.json");
    const header_figures expected = figures_from_headers(dir);
    int64_t experts = 0, top_k = 0;
    for (const char* key : {"num_local_experts", "num_experts", "n_routed_experts"})
      if (config.contains(key) && config[key].is_number_integer()) experts = config[key];
    if (experts) top_k = config["num_experts_per_tok"];
    const int64_t active = experts ? expected.total - expected.routed_expert / experts * (experts - top_k) : expected.total;

    auto r = test::run_owl("show " + test::shell_quote(dir.string()) + " --json");
    ASSERT_EQ(r.exit_code, 0) << dir << ": " << r.err;
    const auto shown = nlohmann::json::parse(r.out);
    EXPECT_EQ(shown["architecture"], config["architectures"][0]) << dir;
    EXPECT_EQ(shown["total_parameters"].get<int64_t>(), expected.total) << dir;
    EXPECT_EQ(shown["active_parameters"].get<int64_t>(), active) << dir;
    EXPECT_EQ(shown["weight_bytes"].get<int64_t>(), expected.bytes) << dir;
    EXPECT_EQ(shown["context_length"], config["max_position_embeddings"]) << dir;
    EXPECT_EQ(shown["stored_dtype"], dir.filename() == "llama3_bf16" ? "BF16" : dir.filename() == "qwen2_f16" ? "F16" : "F32");
    // Full-context KV cache in float32: 2 x kv_heads x head_dim per layer and token, except
    // latent attention, which caches kv_lora_rank + qk_rope_head_dim.
    const int64_t layers = config["num_hidden_layers"], context = config["max_position_embeddings"];
    int64_t per_token_layer;
    if (config.contains("kv_lora_rank")) {
      per_token_layer = config["kv_lora_rank"].get<int64_t>() + config["qk_rope_head_dim"].get<int64_t>();
    } else {
      const int64_t heads = config["num_attention_heads"];
      const int64_t kv_heads = config.contains("num_key_value_heads") ? config["num_key_value_heads"].get<int64_t>() : heads;
      const int64_t head_dim = config.contains("head_dim") ? config["head_dim"].get<int64_t>()
                                                           : config["hidden_size"].get<int64_t>() / heads;
      per_token_layer = 2 * kv_heads * head_dim;
    }
    EXPECT_EQ(shown["kv_cache_bytes_full_context"].get<int64_t>(), layers * context * per_token_layer * 4) << dir;
  }
}

TEST(Registry, OwlShowPrintsReadableText) {
  auto r = test::run_owl("show " + test::shell_quote((test::fixtures() / "models" / "mixtral").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("MixtralForCausalLM"), std::string::npos);
  EXPECT_NE(r.out.find("4 routed, 2 per token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kv cache (full)"), std::string::npos);
}

}  // namespace
}  // namespace owl
