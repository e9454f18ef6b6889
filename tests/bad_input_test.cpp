// Hostile and broken model folders: each must give one clear error line and exit code 1 from
// the CLI — never a crash (this suite also runs under ASan/UBSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "owl/model.h"
#include "owl/safetensors.h"
#include "test_util.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

// A writable copy of a fixture model folder (plus the stories260K tokenizer, so that
// `owl run` gets as far as loading the weights).
struct model_copy {
  test::temp_dir dir{"model"};
  explicit model_copy(const std::string& fixture = "llama2") {
    for (const auto& entry : fs::directory_iterator(test::fixtures() / "models" / fixture))
      fs::copy_file(entry.path(), dir / entry.path().filename().string());
    fs::permissions(dir.path() / "model.safetensors", fs::perms::owner_all, fs::perm_options::add);
    fs::permissions(dir.path() / "config.json", fs::perms::owner_all, fs::perm_options::add);
  }
  fs::path weights() const { return dir / "model.safetensors"; }
  fs::path config() const { return dir / "config.json"; }

  // Rewrites the safetensors header through `edit`, keeping the data section.
  template <typename F>
  void edit_header(F edit) {
    std::string bytes = test::read_file(weights());
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
    edit(header);
    std::string text = header.dump();
    uint64_t m = text.size();
    std::string out(reinterpret_cast<const char*>(&m), 8);
    test::write_file(weights(), out + text + bytes.substr(8 + n));
  }
};

// Runs `owl logits` on the folder and checks for exactly one error line containing `needle`.
void expect_clean_error(const fs::path& dir, const std::string& needle) {
  auto r = test::run_owl("logits " + test::shell_quote(dir.string()) + " --tokens 1,2,3 --out " +
                         test::shell_quote((dir / "out.safetensors").string()));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("owl: error: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

TEST(BadInput, TruncatedWeights) {
  model_copy m;
  fs::resize_file(m.weights(), fs::file_size(m.weights()) / 2);
  expect_clean_error(m.dir.path(), "model.safetensors");
}

TEST(BadInput, HeaderLengthPastTheEnd) {
  model_copy m;
  std::string bytes = test::read_file(m.weights());
  uint64_t huge = uint64_t(1) << 40;
  std::memcpy(bytes.data(), &huge, 8);
  test::write_file(m.weights(), bytes);
  expect_clean_error(m.dir.path(), "header");
}

TEST(BadInput, OverlappingTensors) {
  model_copy m;
  m.edit_header([](nlohmann::json& h) {
    // Point the final norm at the first bytes of the embedding.
    h["model.norm.weight"]["data_offsets"] = {0, 256};
  });
  expect_clean_error(m.dir.path(), "overlap");
}

TEST(BadInput, WrongByteSize) {
  model_copy m;
  m.edit_header([](nlohmann::json& h) { h["model.norm.weight"]["shape"] = {65}; });
  expect_clean_error(m.dir.path(), "model.norm.weight");
}

TEST(BadInput, UnknownDtype) {
  model_copy m;
  m.edit_header([](nlohmann::json& h) { h["model.norm.weight"]["dtype"] = "Q7"; });
  expect_clean_error(m.dir.path(), "Q7");
}

TEST(BadInput, MissingTensor) {
  model_copy m;
  auto file = safetensors_file::open(test::fixtures() / "models" / "llama2" / "model.safetensors");
  std::vector<tensor_to_write> keep;
  for (const tensor_view& t : file->tensors())
    if (t.name != "model.layers.1.mlp.up_proj.weight")
      keep.push_back({t.name, t.type, t.shape, std::span(t.data, t.nbytes)});
  fs::remove(m.weights());
  write_safetensors(m.weights(), keep);
  expect_clean_error(m.dir.path(), "model.layers.1.mlp.up_proj.weight");
}

TEST(BadInput, ShapeDisagreesWithConfig) {
  model_copy m;
  auto config = test::read_json(m.config());
  config["intermediate_size"] = 128;
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), "expected shape");
}

TEST(BadInput, ExtraTensorIsReported) {
  model_copy m("qwen2");
  auto config = test::read_json(m.config());
  config["architectures"] = {"LlamaForCausalLM"};  // Llama has no q/k/v bias by default
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), "bias");
}

TEST(BadInput, UnsupportedArchitecture) {
  model_copy m;
  auto config = test::read_json(m.config());
  config["architectures"] = {"FooForCausalLM"};
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), "unsupported architecture 'FooForCausalLM'");
}

TEST(BadInput, UnsupportedRopeScaling) {
  model_copy m;
  auto config = test::read_json(m.config());
  config["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 4.0}};
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), "rope_scaling.rope_type");
}

TEST(BadInput, MalformedConfigJson) {
  model_copy m;
  std::string text = test::read_file(m.config());
  test::write_file(m.config(), text.substr(0, text.size() / 2));
  expect_clean_error(m.dir.path(), "config.json");
}

TEST(BadInput, ConfigFieldOfWrongType) {
  model_copy m;
  auto config = test::read_json(m.config());
  config["num_hidden_layers"] = "two";
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), "num_hidden_layers");
}

TEST(BadInput, MissingFolder) { expect_clean_error("/nonexistent/owl-model", "/nonexistent/owl-model"); }

TEST(BadInput, MalformedTokenizerJson) {
  test::temp_dir dir("tok");
  test::write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  auto r = test::run_owl("tokenize " + test::shell_quote(dir.path().string()) + " hello");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.starts_with("owl: error: ")) << r.err;
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(BadInput, TokenIdsOutOfRange) {
  auto r = test::run_owl("logits " + test::shell_quote((test::fixtures() / "models" / "llama2").string()) +
                         " --tokens 1,99999 --out /tmp/owl-never-written.safetensors");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
}

TEST(BadInput, UsageErrorsExitNonZero) {
  EXPECT_NE(test::run_owl("").exit_code, 0);
  EXPECT_NE(test::run_owl("run --temp banana").exit_code, 0);
  EXPECT_NE(test::run_owl("logits").exit_code, 0);
  auto help = test::run_owl("run --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--top-p"), std::string::npos);
}

}  // namespace
}  // namespace owl

namespace owl {
namespace {

// A config asking for something owl lacks is an error naming the key, never a wrong answer.
void expect_config_rejected(const std::string& fixture, const std::function<void(nlohmann::json&)>& edit,
                            const std::string& needle) {
  model_copy m(fixture);
  auto config = test::read_json(m.config());
  edit(config);
  test::write_file(m.config(), config.dump());
  expect_clean_error(m.dir.path(), needle);
}

TEST(BadInput, UnknownFeaturesAreNamed) {
  expect_config_rejected("llama3", [](auto& c) { c["rope_scaling"]["rope_type"] = "su"; }, "rope_scaling.rope_type");
  expect_config_rejected("gemma3", [](auto& c) { c["layer_types"][0] = "chunked_attention"; }, "layer_types");
  expect_config_rejected("llama2", [](auto& c) { c["hidden_act"] = "mish"; }, "hidden_act");
  expect_config_rejected("deepseek_v2", [](auto& c) { c["topk_method"] = "auction"; }, "topk_method");
  expect_config_rejected("deepseek_v3", [](auto& c) { c["scoring_func"] = "sparsemax"; }, "scoring_func");
  expect_config_rejected("mixtral", [](auto& c) { c["num_experts_per_tok"] = 9; }, "num_experts_per_tok");
  expect_config_rejected("gpt_neox", [](auto& c) { c["rotary_pct"] = 1.5; }, "rotary_pct");
}

}  // namespace
}  // namespace owl
