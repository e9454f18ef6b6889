// Models through GGUF: fixtures converted by `owl convert` keep their logits within the error
// their weight type implies; stories260K from its F32 GGUF gives the golden greedy text;
// `owl quantize` output loads and stays close.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "owl/convert.h"
#include "owl/generate.h"
#include "owl/model.h"
#include "owl/safetensors.h"
#include "owl/tokenizer.h"
#include "test_util.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

// Worst max|delta| / max|ref| over the four golden sequences.
double worst_relative_error(model& m, const fs::path& golden_path) {
  auto golden = safetensors_file::open(golden_path);
  double worst = 0;
  for (const char* seq : {"A", "B", "C", "D"}) {
    auto ids_span = golden->get(std::string("input_ids.") + seq).as_i32();
    std::vector<int32_t> ids(ids_span.begin(), ids_span.end());
    auto ref = golden->get(std::string("logits.") + seq).as_f32();
    auto s = m.new_session(int64_t(ids.size()));
    auto got = s->forward(ids, true);
    double max_delta = 0, max_ref = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      max_delta = std::max(max_delta, double(std::fabs(got[i] - ref[i])));
      max_ref = std::max(max_ref, double(std::fabs(ref[i])));
    }
    worst = std::max(worst, max_delta / max_ref);
  }
  return worst;
}

struct gguf_case {
  std::string fixture;
  std::string type;
  double tolerance;  // of max|ref|
};

class GgufModel : public ::testing::TestWithParam<gguf_case> {};

// Bounds: the fixtures' random weights amplify rounding about fourfold through two layers.
// F32 must be exact to float math (1e-4, the golden bound); F16 rounds weights to 2^-11
// relative (measured <= 2e-3); Q8_0 to 1/254 of each block's maximum (measured <= 6e-2).
TEST_P(GgufModel, ConvertedLogitsStayWithinTheTypesError) {
  const gguf_case& c = GetParam();
  test::temp_dir dir("gguf");
  const fs::path file = dir / (c.fixture + "-" + c.type + ".gguf");
  convert_to_gguf(test::fixtures() / "models" / c.fixture, file, parse_gguf_type(c.type));
  auto m = model::load(file, load_options{.threads = 2});
  EXPECT_LE(worst_relative_error(*m, test::fixtures() / "golden" / "models" / (c.fixture + ".safetensors")), c.tolerance);
}

std::vector<gguf_case> cases() {
  std::vector<gguf_case> out;
  for (const char* fixture : {"llama2", "llama3", "llama3_bf16", "mistral", "qwen2", "qwen2_f16", "qwen3"}) {
    out.push_back({fixture, "F32", 1e-4});
    out.push_back({fixture, "F16", 5e-3});
    out.push_back({fixture, "Q8_0", 1e-1});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufModel, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.fixture + "_" + info.param.type; });

TEST(GgufModelStories, F32GgufGivesTheGoldenGreedyText) {
  test::temp_dir dir("gguf");
  const fs::path file = dir / "stories260K.gguf";
  auto r = test::run_owl("convert " + test::shell_quote((fs::path(OWL_SOURCE_DIR) / "models" / "stories260K").string()) +
                         " " + test::shell_quote(file.string()) + " --type F32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto tok = load_tokenizer(file);
  auto m = model::load(file, load_options{.threads = 2});
  const auto golden = test::read_json(test::fixtures() / "golden" / "stories260K.json");
  for (const auto& c : golden["cases"]) {
    const auto prompt = tok->encode(c["prompt"].get<std::string>(), true);
    ASSERT_EQ(prompt, c["prompt_ids"].get<std::vector<int32_t>>());
    const auto expected = c["greedy_ids"].get<std::vector<int32_t>>();
    auto s = m->new_session();
    generate_options options;
    options.max_tokens = int64_t(expected.size());
    options.sampling.temperature = 0;
    EXPECT_EQ(generate(*s, prompt, options).tokens, expected) << c["prompt"];
    EXPECT_EQ(tok->decode(expected), c["greedy_text"].get<std::string>());
  }
}

TEST(GgufModelStories, QuantizeWritesLoadableFiles) {
  test::temp_dir dir("gguf");
  const fs::path f16 = dir / "f16.gguf";
  convert_to_gguf(fs::path(OWL_SOURCE_DIR) / "models" / "stories260K", f16, parse_gguf_type("F16"));
  for (const char* type : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"}) {
    const fs::path out = dir / (std::string(type) + ".gguf");
    auto r = test::run_owl("quantize " + test::shell_quote(f16.string()) + " " + test::shell_quote(out.string()) + " " + type);
    ASSERT_EQ(r.exit_code, 0) << type << ": " << r.err;
    auto run = test::run_owl("run " + test::shell_quote(out.string()) + " -p 'Once upon a time' -n 20 --temp 0 -t 2");
    ASSERT_EQ(run.exit_code, 0) << type << ": " << run.err;
    EXPECT_TRUE(run.out.starts_with("Once upon a time")) << run.out;
    EXPECT_GT(run.out.size(), 40u) << type;
  }
  auto bad = test::run_owl("quantize " + test::shell_quote(f16.string()) + " " + test::shell_quote((dir / "x.gguf").string()) + " Q9_9");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unknown GGUF output type"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace owl
