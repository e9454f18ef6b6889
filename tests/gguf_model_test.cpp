// Models through GGUF: fixtures converted by `owl convert` keep their logits within the error
// their weight type implies; stories260K from its F32 GGUF gives the golden greedy text;
// `owl quantize` output loads and stays close; llama.cpp-style Llama 3.1 files (rope scaling only
// as rope_freqs.weight) give the golden logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <numbers>
#include <random>

#include "arch/rope.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/gguf_layout.h"
#include "owl/convert.h"
#include "owl/dtype.h"
#include "owl/error.h"
#include "owl/generate.h"
#include "owl/model.h"
#include "owl/safetensors.h"
#include "owl/tokenizer.h"
#include "quant/quant.h"
#include "synthetic_llama.h"
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
  bool greedy;       // check the golden greedy continuation of B
};

class GgufModel : public ::testing::TestWithParam<gguf_case> {};

// Bounds: the fixtures' random weights amplify rounding about fourfold through two layers.
// F32 must be exact to float math (1e-4, the golden bound) and give the golden greedy text: every
// layout change (permutations, folded norms, stacked or split experts, kv_b) is exact. F16 rounds
// weights to 2^-11 relative (measured <= 3.5e-3); Q8_0 to 1/254 of each block's maximum
// (measured <= 6.2e-2 for the dense two-layer models). See cases() for the looser ones.
TEST_P(GgufModel, ConvertedLogitsStayWithinTheTypesError) {
  const gguf_case& c = GetParam();
  test::temp_dir dir("gguf");
  const fs::path file = dir / (c.fixture + "-" + c.type + ".gguf");
  convert_to_gguf(test::fixtures() / "models" / c.fixture, file, parse_gguf_type(c.type));
  auto m = model::load(file, load_options{.threads = 2});
  const fs::path golden_path = test::fixtures() / "golden" / "models" / (c.fixture + ".safetensors");
  const double error = worst_relative_error(*m, golden_path);
  std::printf("[ gguf ] %s %s max|delta|/max|ref| = %.3g\n", c.fixture.c_str(), c.type.c_str(), error);
  EXPECT_LE(error, c.tolerance);
  if (!c.greedy) return;
  auto golden = safetensors_file::open(golden_path);
  auto ids_span = golden->get("input_ids.B").as_i32();
  auto expected_span = golden->get("greedy.B").as_i32();
  const std::vector<int32_t> prompt(ids_span.begin(), ids_span.end()), expected(expected_span.begin(), expected_span.end());
  auto s = m->new_session();
  generate_options options;
  options.max_tokens = int64_t(expected.size());
  options.sampling.temperature = 0;
  EXPECT_EQ(generate(*s, prompt, options).tokens, expected);
}

// Every fixture architecture owl runs, each as F32, F16 and Q8_0.
std::vector<gguf_case> cases() {
  const std::vector<std::string> moe = {"qwen3_moe", "mixtral", "deepseek_v2", "deepseek_v3", "gpt_oss"};
  std::vector<gguf_case> out;
  for (const char* fixture : {"llama2", "llama3", "llama3_bf16", "mistral", "qwen2", "qwen2_f16", "qwen3", "qwen3_moe",
                              "mixtral", "gpt_neox", "olmo", "olmo2", "nemotron", "deepseek_v2", "deepseek_v3", "gemma3",
                              "gpt_oss"}) {
    const std::string f = fixture;
    // Gemma 3's fixture has four layers, not two: the rounding grows about twice as much again
    // (measured F16 6.6e-3, Q8_0 0.23).
    const bool deep = f == "gemma3";
    // Q8_0 on MoE: a token whose best experts score within the quantization error of each other
    // switches experts, which moves its logits by a good part of max|ref| in these random-weight
    // fixtures (measured 0.16 mixtral .. 0.73 deepseek_v3). The bound then only catches gross
    // errors; F32 and F16 are what check the expert layouts.
    const bool routed = std::find(moe.begin(), moe.end(), f) != moe.end();
    out.push_back({f, "F32", 1e-4, true});
    // DeepSeek V2's F16 continuation parts from the golden one at its 12th token: a greedy
    // choice that F16 rounding flips (its F32 file gives the golden text, so the layout is exact).
    out.push_back({f, "F16", deep ? 1e-2 : 5e-3, f != "deepseek_v2"});
    out.push_back({f, "Q8_0", routed ? 1.0 : deep ? 0.3 : 1e-1, false});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufModel, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.fixture + "_" + info.param.type; });

// Copies `in` to `out`, letting `edit` drop (return false) or reshape a tensor: files whose
// rearranged tensors do not fit the metadata must be refused with the tensor named.
void rewrite_gguf(const fs::path& in, const fs::path& out,
                  const std::function<bool(std::string&, std::vector<int64_t>&)>& edit) {
  auto file = gguf_file::open(in);
  gguf_writer writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment") writer.set(key, value);
  for (const gguf_tensor_info& t : file->tensors()) {
    std::string name = t.name;
    std::vector<int64_t> shape = t.shape;
    if (!edit(name, shape)) continue;
    // Reshaping keeps the element count, so the bytes stay valid for the type.
    writer.add_tensor(name, t.ggml_type, shape, std::span<const std::byte>(t.data, t.nbytes));
  }
  writer.write(out);
}

std::string load_error(const fs::path& file) {
  try {
    model::load(file, load_options{.threads = 1});
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

TEST(GgufModelStrict, RearrangedTensorsAreCheckedAgainstTheMetadata) {
  test::temp_dir dir("gguf");
  const fs::path deepseek = dir / "deepseek.gguf", oss = dir / "oss.gguf", bad = dir / "bad.gguf";
  convert_to_gguf(test::fixtures() / "models" / "deepseek_v2", deepseek, parse_gguf_type("F32"));
  convert_to_gguf(test::fixtures() / "models" / "gpt_oss", oss, parse_gguf_type("F32"));

  rewrite_gguf(deepseek, bad, [](std::string& name, std::vector<int64_t>&) { return name != "blk.1.attn_v_b.weight"; });
  std::string e = load_error(bad);
  EXPECT_NE(e.find("tensor 'blk.1.attn_v_b.weight': missing"), std::string::npos) << e;

  rewrite_gguf(deepseek, bad, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "blk.0.attn_k_b.weight") shape = {8, 32, 4};  // [nope, rank, heads] is [16, 16, 4]
    return true;
  });
  e = load_error(bad);
  EXPECT_NE(e.find("tensor 'blk.0.attn_k_b.weight': expected ne = [16, 16, 4], found [8, 32, 4]"), std::string::npos) << e;

  rewrite_gguf(oss, bad, [](std::string& name, std::vector<int64_t>& shape) {
    if (name == "blk.0.ffn_down_exps.weight") shape = {64, 32, 4};  // hidden and inter swapped
    return true;
  });
  e = load_error(bad);
  EXPECT_NE(e.find("tensor 'blk.0.ffn_down_exps.weight': expected ne = [32, 64, 4], found [64, 32, 4]"), std::string::npos) << e;
}

// llama.cpp's convert_hf_to_gguf.py for rope_type llama3, step by step in float32 as its torch
// tensors compute it: freqs = 1 / base ** (arange(0, dim, 2) / dim); each pair's divisor is 1
// above the high-frequency wavelength, factor below the low one, the blended 1 / ((1 - s) /
// factor + s) between.
std::vector<float> llama_cpp_rope_factors(float base, int64_t dim, float factor, float low_freq_factor,
                                          float high_freq_factor, float old_context) {
  const float low_freq_wavelen = old_context / low_freq_factor, high_freq_wavelen = old_context / high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / std::pow(base, float(i) / float(dim));
    const float wavelen = float(2 * std::numbers::pi) / freq;
    if (wavelen < high_freq_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      factors.push_back(factor);
    } else {
      const float smooth = (old_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      factors.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return factors;
}

rope_config llama3_rope(double theta, int64_t dim, double factor, int64_t old_context) {
  rope_config rope;
  rope.kind = rope_kind::llama3;
  rope.theta = theta;
  rope.rotary_dim = dim;
  rope.factor = factor;
  rope.low_freq_factor = 1.0;
  rope.high_freq_factor = 4.0;
  rope.original_max_positions = old_context;
  return rope;
}

// Worst |a - b| / |b| over the pairs.
double worst_relative_gap(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) / std::fabs(double(b[i])));
  return worst;
}

// Base frequencies divided by llama.cpp's stored factors land within float rounding of owl's
// llama3 frequencies (which the golden tests tie to transformers): for the fixture and for the
// real Llama 3.1 8B (head 128, factor 8) and 3.2 1B (head 64, factor 32), whose middle band
// takes the blended divisor.
TEST(GgufRopeFreqs, LlamaCppFactorsGiveTheLlama3Frequencies) {
  for (const rope_config& llama3 : {llama3_rope(500000, 16, 8, 32), llama3_rope(500000, 128, 8, 8192),
                                    llama3_rope(500000, 64, 32, 8192)}) {
    rope_config divided = llama3;
    divided.kind = rope_kind::standard;
    set_rope_freq_factors(divided, llama_cpp_rope_factors(float(llama3.theta), llama3.rotary_dim, float(llama3.factor), 1, 4,
                                                          float(llama3.original_max_positions)),
                          "test");
    const auto want = rope_inv_freq(llama3, 1), got = rope_inv_freq(divided, 1);
    ASSERT_EQ(got.size(), want.size());
    // The converter's float32 steps (wavelength, smooth, blend, reciprocal) each round: measured
    // 2.0e-7 (about two ulps) in the blended band, 0 elsewhere.
    EXPECT_LT(worst_relative_gap(got, want), 0x1p-21) << "dim " << llama3.rotary_dim;
  }
}

// The factors divide whatever the kind made of the base frequencies, as in llama.cpp's rope.
TEST(GgufRopeFreqs, FactorsDivideAfterTheKindsScaling) {
  rope_config linear;
  linear.kind = rope_kind::linear;
  linear.factor = 2;
  linear.rotary_dim = 8;
  const auto before = rope_inv_freq(linear, 1);
  set_rope_freq_factors(linear, {1, 2, 4, 0.5f}, "test");
  const auto after = rope_inv_freq(linear, 1);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1] / 2);
  EXPECT_EQ(after[2], before[2] / 4);
  EXPECT_EQ(after[3], before[3] * 2);
}

TEST(GgufRopeFreqs, SetRefusesWrongCountsAndValues) {
  rope_config rope;
  rope.rotary_dim = 8;
  auto message = [&](std::vector<float> factors) -> std::string {
    try {
      set_rope_freq_factors(rope, std::move(factors), "m.gguf: tensor 'rope_freqs.weight'");
    } catch (const error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message({1, 1, 1}).find("m.gguf: tensor 'rope_freqs.weight': expected 4 factors (rotary_dim / 2), found 3"),
            std::string::npos);
  EXPECT_NE(message({1, 1, -2, 1}).find("expected finite positive divisors, found -2 at index 2"), std::string::npos);
  EXPECT_NE(message({0, 1, 1, 1}).find("found 0 at index 0"), std::string::npos);
  EXPECT_NE(message({1, 1, 1, INFINITY}).find("found inf at index 3"), std::string::npos);
  EXPECT_NE(message({1, NAN, 1, 1}).find("found nan at index 1"), std::string::npos);
  EXPECT_TRUE(rope.freq_factors.empty());  // nothing kept from a refused set
  EXPECT_EQ(message({1, 2, 4, 8}), "");
  EXPECT_EQ(rope.freq_factors, (std::vector<float>{1, 2, 4, 8}));
}

std::vector<std::byte> f32_bytes(const std::vector<float>& values) {
  std::vector<std::byte> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<std::byte> f16_bytes(const std::vector<float>& values) {
  std::vector<std::byte> bytes(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = f32_to_f16(values[i]);
    std::memcpy(&bytes[2 * i], &h, 2);
  }
  return bytes;
}

struct rope_freqs_tensor {
  uint32_t type;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

// Copies an owl-written `in` to `out` as llama.cpp's converter would have written it: the same
// keys and tensors but no owl.rope_scaling (unless `keep_owl_key`), and `freqs` as rope_freqs.weight.
void write_rope_freqs_variant(const fs::path& in, const fs::path& out, const rope_freqs_tensor& freqs,
                              bool keep_owl_key = false) {
  auto file = gguf_file::open(in);
  ASSERT_NE(file->find("owl.rope_scaling"), nullptr);
  ASSERT_NE(file->find_tensor("rope_freqs.weight"), nullptr);
  gguf_writer writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment" && (keep_owl_key || key != "owl.rope_scaling")) writer.set(key, value);
  for (const gguf_tensor_info& t : file->tensors()) {
    if (t.name == "rope_freqs.weight")
      writer.add_tensor(t.name, freqs.type, freqs.shape, std::span<const std::byte>(freqs.bytes));
    else
      writer.add_tensor(t.name, t.ggml_type, t.shape, std::span<const std::byte>(t.data, t.nbytes));
  }
  writer.write(out);
}

// The llama3 fixture's divisors as llama.cpp's converter computes them (theta 500000, 16 rotary
// dims, factor 8, old context 32).
std::vector<float> fixture_llama_cpp_factors() { return llama_cpp_rope_factors(500000, 16, 8, 1, 4, 32); }

// Llama 3.1 / 3.2 files from llama.cpp carry the scaling only as rope_freqs.weight: each type's
// file without owl's key must give the same logits bound and greedy text as owl's own file.
TEST(GgufRopeFreqs, LlamaCppStyleLlama3FileGivesTheGoldenLogits) {
  test::temp_dir dir("gguf");
  const fs::path golden_path = test::fixtures() / "golden" / "models" / "llama3.safetensors";
  auto golden = safetensors_file::open(golden_path);
  auto ids_span = golden->get("input_ids.B").as_i32();
  auto expected_span = golden->get("greedy.B").as_i32();
  const std::vector<int32_t> prompt(ids_span.begin(), ids_span.end()), expected(expected_span.begin(), expected_span.end());
  const std::vector<float> factors = fixture_llama_cpp_factors();
  for (const auto& [type, tolerance] : {std::pair<const char*, double>{"F32", 1e-4}, {"F16", 5e-3}}) {
    SCOPED_TRACE(type);
    const fs::path owl_file = dir / (std::string("owl-") + type + ".gguf"), llama_cpp = dir / (std::string("lcpp-") + type + ".gguf");
    convert_to_gguf(test::fixtures() / "models" / "llama3", owl_file, parse_gguf_type(type));
    {
      // owl's writer stores the divisors llama.cpp's converter does (the fixture's are 1 and 8,
      // exact either way).
      auto written = gguf_file::open(owl_file);
      const gguf_tensor_info& t = written->get_tensor("rope_freqs.weight");
      ASSERT_EQ(t.ggml_type, ggml_types::f32);
      ASSERT_EQ(t.shape, (std::vector<int64_t>{int64_t(factors.size())}));
      std::vector<float> stored(factors.size());
      std::memcpy(stored.data(), t.data, stored.size() * 4);
      EXPECT_EQ(stored, factors);
    }
    write_rope_freqs_variant(owl_file, llama_cpp, {ggml_types::f32, {int64_t(factors.size())}, f32_bytes(factors)});
    ASSERT_EQ(gguf_file::open(llama_cpp)->find("owl.rope_scaling"), nullptr);
    auto m = model::load(llama_cpp, load_options{.threads = 2});
    const double error = worst_relative_error(*m, golden_path);
    std::printf("[ gguf ] llama3 %s with rope_freqs only: max|delta|/max|ref| = %.3g\n", type, error);
    EXPECT_LE(error, tolerance);
    auto s = m->new_session();
    generate_options options;
    options.max_tokens = int64_t(expected.size());
    options.sampling.temperature = 0;
    EXPECT_EQ(generate(*s, prompt, options).tokens, expected);
  }
}

// F16 divisors are read too (the fixture's, 1 and 8, are exact in F16); owl's own key wins over
// the tensor, so an owl-written file loads as before whatever rope_freqs holds.
TEST(GgufRopeFreqs, F16FactorsAndOwlKeyPrecedence) {
  test::temp_dir dir("gguf");
  const fs::path owl_file = dir / "owl.gguf", variant = dir / "variant.gguf";
  const fs::path golden_path = test::fixtures() / "golden" / "models" / "llama3.safetensors";
  convert_to_gguf(test::fixtures() / "models" / "llama3", owl_file, parse_gguf_type("F32"));
  const std::vector<float> factors = fixture_llama_cpp_factors();

  write_rope_freqs_variant(owl_file, variant, {ggml_types::f16, {int64_t(factors.size())}, f16_bytes(factors)});
  EXPECT_LE(worst_relative_error(*model::load(variant, load_options{.threads = 2}), golden_path), 1e-4);

  std::vector<float> damaged = factors;
  damaged[3] = NAN;
  write_rope_freqs_variant(owl_file, variant, {ggml_types::f32, {int64_t(factors.size())}, f32_bytes(damaged)}, true);
  EXPECT_LE(worst_relative_error(*model::load(variant, load_options{.threads = 2}), golden_path), 1e-4);
}

// Without owl's key the tensor is the model's rope: anything but rotary_dim / 2 finite positive
// F32 or F16 values is refused with the file and the tensor named.
TEST(GgufRopeFreqs, BadFactorsAreRefused) {
  test::temp_dir dir("gguf");
  const fs::path owl_file = dir / "owl.gguf", bad = dir / "bad.gguf";
  convert_to_gguf(test::fixtures() / "models" / "llama3", owl_file, parse_gguf_type("F32"));
  const std::vector<float> good = fixture_llama_cpp_factors();
  ASSERT_EQ(good.size(), 8u);
  auto refused = [&](const rope_freqs_tensor& freqs, const std::string& want) {
    write_rope_freqs_variant(owl_file, bad, freqs);
    const std::string e = load_error(bad);
    EXPECT_NE(e.find(bad.string() + ": tensor 'rope_freqs.weight': " + want), std::string::npos) << e;
  };
  std::vector<float> short_list(good.begin(), good.begin() + 7);
  refused({ggml_types::f32, {7}, f32_bytes(short_list)}, "expected 8 factors (rotary_dim / 2), found 7");
  std::vector<float> long_list = good;
  long_list.insert(long_list.end(), good.begin(), good.end());
  refused({ggml_types::f32, {16}, f32_bytes(long_list)}, "expected 8 factors (rotary_dim / 2), found 16");
  refused({ggml_types::f32, {4, 2}, f32_bytes(good)}, "expected a 1-D tensor of rotary_dim / 2 factors, found 2 dimensions");
  refused({ggml_types::bf16, {8}, f16_bytes(good)}, "expected F32 or F16 factors, found BF16");
  for (const auto& [value, shown] : {std::pair<float, const char*>{NAN, "nan"}, {INFINITY, "inf"}, {0.0f, "0"}, {-8.0f, "-8"}}) {
    std::vector<float> values = good;
    values[5] = value;
    refused({ggml_types::f32, {8}, f32_bytes(values)}, std::string("expected finite positive divisors, found ") + shown + " at index 5");
  }
  std::vector<float> values = good;
  values[2] = INFINITY;
  refused({ggml_types::f16, {8}, f16_bytes(values)}, "expected finite positive divisors, found inf at index 2");
}

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

// llama.cpp's Q4_K_M and Q5_K_M mixes (llama_tensor_get_type), tensor by tensor, on 16 layers:
// more bits in layers 0, 1, 4, 7, 10, 13, 14, 15.
TEST(GgufMix, TypesFollowLlamaCpp) {
  const auto q4km = parse_gguf_type("Q4_K_M"), q5km = parse_gguf_type("Q5_K_M");
  const gguf_type_context dense{.cols = 2048, .layers = 16, .has_output = true, .experts = 0};
  const gguf_type_context tied{.cols = 2048, .layers = 16, .has_output = false, .experts = 0};
  const gguf_type_context mixtral{.cols = 4096, .layers = 16, .has_output = true, .experts = 8};
  auto type = [](const gguf_convert_options& o, const std::string& name, gguf_type_context c) {
    return std::string(dtype_name(choose_gguf_type(o, name, c)));
  };
  EXPECT_EQ(type(q4km, "output.weight", dense), "Q6_K");
  EXPECT_EQ(type(q4km, "token_embd.weight", dense), "Q4_K");
  EXPECT_EQ(type(q4km, "token_embd.weight", tied), "Q6_K") << "a tied embedding is quantized as the output";
  EXPECT_EQ(type(q5km, "token_embd.weight", tied), "Q6_K");
  for (int64_t layer = 0; layer < 16; ++layer) {
    const bool more = layer < 2 || layer >= 14 || layer == 4 || layer == 7 || layer == 10 || layer == 13;
    const std::string blk = "blk." + std::to_string(layer) + ".";
    EXPECT_EQ(type(q4km, blk + "attn_v.weight", dense), more ? "Q6_K" : "Q4_K") << layer;
    EXPECT_EQ(type(q4km, blk + "ffn_down.weight", dense), more ? "Q6_K" : "Q4_K") << layer;
    EXPECT_EQ(type(q5km, blk + "ffn_down.weight", dense), more ? "Q6_K" : "Q5_K") << layer;
    EXPECT_EQ(type(q4km, blk + "ffn_down_exps.weight", mixtral), more ? "Q6_K" : "Q4_K") << layer;
    EXPECT_EQ(type(q4km, blk + "ffn_down_shexp.weight", mixtral), more ? "Q6_K" : "Q4_K") << layer;
    for (const char* plain : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"})
      EXPECT_EQ(type(q4km, blk + plain, dense), "Q4_K") << blk << plain;
    EXPECT_EQ(type(q4km, blk + "attn_qkv.weight", dense), "Q5_K");
    EXPECT_EQ(type(q5km, blk + "attn_qkv.weight", dense), "Q6_K");
    // 8 experts (Mixtral): attention gets more bits everywhere
    EXPECT_EQ(type(q4km, blk + "attn_v.weight", mixtral), "Q8_0");
    EXPECT_EQ(type(q4km, blk + "attn_k.weight", mixtral), "Q8_0");
    EXPECT_EQ(type(q4km, blk + "attn_output.weight", mixtral), "Q5_K");
    EXPECT_EQ(type(q5km, blk + "attn_output.weight", mixtral), "Q5_K");
    EXPECT_EQ(type(q4km, blk + "ffn_gate_exps.weight", mixtral), "Q4_K");
  }
  // Rows the blocks do not divide: llama-quantize's fallbacks, then F16.
  EXPECT_EQ(type(q4km, "blk.2.ffn_up.weight", {.cols = 64, .layers = 16}), "Q5_0");
  EXPECT_EQ(type(q5km, "blk.2.ffn_up.weight", {.cols = 96, .layers = 16}), "Q5_1");
  EXPECT_EQ(type(q4km, "blk.0.attn_v.weight", {.cols = 96, .layers = 16}), "Q8_0");
  EXPECT_EQ(type(q4km, "output.weight", {.cols = 64, .layers = 16}), "Q8_0");
  EXPECT_EQ(type(q4km, "blk.2.ffn_up.weight", {.cols = 172, .layers = 16}), "F16");
  EXPECT_EQ(type(parse_gguf_type("Q3_K"), "blk.2.ffn_up.weight", {.cols = 64, .layers = 16}), "IQ4_NL");
  EXPECT_EQ(type(parse_gguf_type("Q4_0"), "blk.2.ffn_up.weight", {.cols = 48, .layers = 16}), "F16");
  EXPECT_EQ(type(parse_gguf_type("Q8_0"), "output.weight", {.cols = 64, .layers = 16}), "Q8_0") << "no mix: as asked";
  // Names that only look like layers are not.
  EXPECT_EQ(type(q4km, "blk.x.attn_v.weight", dense), "Q4_K");
  EXPECT_EQ(type(q4km, "blk.99999999999999999999.ffn_down.weight", dense), "Q4_K");
}

// `owl quantize` with a mix on a file whose embedding is tied: the embedding gets the output's Q6_K.
TEST(GgufMix, QuantizeGivesATiedEmbeddingTheOutputsType) {
  test::temp_dir dir("gguf");
  const test::llama_shape shape{256, 512, 2, 4, 2, 64};
  for (const bool untied : {false, true}) {
    const fs::path in = dir / "in.gguf", out = dir / "out.gguf";
    test::write_synthetic_llama(
        in, shape,
        [&](const std::string&, int64_t rows, int64_t cols) {
          std::vector<std::byte> bytes(size_t(rows * cols) * 2);
          for (size_t i = 0; i < bytes.size() / 2; ++i) {
            const uint16_t h = f32_to_f16(0.01f * float(int(i % 17) - 8));
            std::memcpy(&bytes[2 * i], &h, 2);
          }
          return test::tensor_bytes{ggml_types::f16, std::move(bytes)};
        },
        untied);
    quantize_gguf(in, out, parse_gguf_type("Q4_K_M"));
    auto file = gguf_file::open(out);
    std::map<std::string, uint32_t> types;
    for (const gguf_tensor_info& t : file->tensors()) types[t.name] = t.ggml_type;
    EXPECT_EQ(types.at("token_embd.weight"), untied ? ggml_types::q4_k : ggml_types::q6_k) << untied;
    if (untied) {
      EXPECT_EQ(types.at("output.weight"), ggml_types::q6_k);
    }
    EXPECT_EQ(types.at("blk.0.ffn_down.weight"), ggml_types::q4_k);
    EXPECT_EQ(types.at("blk.1.ffn_down.weight"), ggml_types::q6_k);  // the last eighth of 2 layers: more bits
    EXPECT_EQ(types.at("blk.0.ffn_gate.weight"), ggml_types::q4_k);
  }
}

// The CPU backend interleaves Q4_0, Q8_0, IQ4_NL, F16, BF16 and F32 matrices at load
// (load_options::repack_weights): logits and greedy tokens must be bitwise those of the file's own layout,
// including tied embeddings (looked up in the interleaved output matrix), experts and MLA; the
// file itself must not change (the mapping is copy-on-write).
TEST(GgufRepack, InterleavedWeightsGiveBitwiseTheSameLogits) {
  if (!quant::has_interleaved_kernel(quant::best_isa(), quant::qtype::q4_0)) GTEST_SKIP() << "no SIMD kernels here";
  test::temp_dir dir("gguf");
  for (const char* fixture : {"llama2", "qwen3", "mixtral", "deepseek_v2", "gpt_oss"}) {
    for (const char* type : {"Q4_0", "Q8_0", "IQ4_NL", "F16", "BF16", "F32"}) {
      const fs::path file = dir / (std::string(fixture) + "-" + type + ".gguf");
      convert_to_gguf(test::fixtures() / "models" / fixture, file, parse_gguf_type(type));
      const std::string before = read_text_file(file, size_t(1) << 30);
      auto repacked = model::load(file, load_options{.threads = 2});
      auto plain = model::load(file, load_options{.threads = 2, .repack_weights = false});
      EXPECT_GT(repacked->info().repacked_bytes, 0) << fixture << " " << type;
      EXPECT_EQ(plain->info().repacked_bytes, 0) << fixture << " " << type;
      auto golden = safetensors_file::open(test::fixtures() / "golden" / "models" / (std::string(fixture) + ".safetensors"));
      for (const char* seq : {"A", "B", "C", "D"}) {
        auto ids_span = golden->get(std::string("input_ids.") + seq).as_i32();
        const std::vector<int32_t> ids(ids_span.begin(), ids_span.end());
        auto a = repacked->new_session(int64_t(ids.size()) + 8);
        auto b = plain->new_session(int64_t(ids.size()) + 8);
        const std::span<const float> got = a->forward(ids, true), want = b->forward(ids, true);
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << fixture << " " << type << " " << seq;
        generate_options options;
        options.max_tokens = 8;
        options.sampling.temperature = 0;
        auto s1 = repacked->new_session(), s2 = plain->new_session();
        EXPECT_EQ(generate(*s1, ids, options).tokens, generate(*s2, ids, options).tokens) << fixture << " " << type;
      }
      EXPECT_TRUE(read_text_file(file, size_t(1) << 30) == before) << fixture << " " << type << ": the file changed";
    }
  }
}

// llama.cpp's Q4_K_M mix (Q4_K, with Q6_K for attn_v, ffn_down and the output layer; here Q5_K
// for ffn_up and attn_output too) needs rows of 256 elements and more, which the fixtures
// lack: a synthetic Llama of quantized Gaussian weights, its output layer tied to a Q6_K embedding (read back from interleaved rows)
// or untied. Prompts and decode steps, repacked or not: bitwise the same.
TEST(GgufRepack, KQuantMixGivesBitwiseTheSameLogits) {
  if (!quant::has_interleaved_kernel(quant::best_isa(), quant::qtype::q6_k)) GTEST_SKIP() << "no SIMD kernels here";
  test::temp_dir dir("gguf");
  const test::llama_shape shape{256, 512, 2, 4, 2, 270};  // 270 rows: 33 groups of 8 and 6 plain rows
  for (const bool untied : {false, true}) {
    const fs::path file = dir / (untied ? "untied.gguf" : "tied.gguf");
    std::mt19937 rng(untied ? 2 : 1);
    test::write_synthetic_llama(
        file, shape,
        [&](const std::string& name, int64_t rows, int64_t cols) {
          const bool q6 = name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos ||
                          name == "output.weight" || (!untied && name == "token_embd.weight");
          const bool q5 = name.find("ffn_up") != std::string::npos || name.find("attn_output") != std::string::npos;
          const quant::qtype t = q6 ? quant::qtype::q6_k : q5 ? quant::qtype::q5_k : quant::qtype::q4_k;
          std::normal_distribution<float> normal(0.0f, 0.08f);
          std::vector<float> row(static_cast<size_t>(cols));
          test::tensor_bytes out{q6 ? ggml_types::q6_k : q5 ? ggml_types::q5_k : ggml_types::q4_k,
                                 std::vector<std::byte>(quant::row_bytes(t, cols) * size_t(rows))};
          for (int64_t r = 0; r < rows; ++r) {
            for (float& v : row) v = normal(rng);
            quant::quantize_row(t, row.data(), out.bytes.data() + size_t(r) * quant::row_bytes(t, cols), cols);
          }
          return out;
        },
        untied);
    auto repacked = model::load(file, load_options{.threads = 2});
    auto plain = model::load(file, load_options{.threads = 2, .repack_weights = false});
    EXPECT_GT(repacked->info().repacked_bytes, 0) << (untied ? "untied" : "tied");
    std::vector<int32_t> ids(23);
    for (int32_t& id : ids) id = int32_t(rng() % uint32_t(shape.vocab));
    auto a = repacked->new_session(64), b = plain->new_session(64);
    const std::span<const float> got = a->forward(ids, true), want = b->forward(ids, true);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << (untied ? "untied" : "tied");
    for (int step = 0; step < 6; ++step) {  // decode steps: one token each
      const int32_t next = int32_t(rng() % uint32_t(shape.vocab));
      const std::span<const float> x = a->forward(std::vector<int32_t>{next}, false);
      const std::vector<float> x_copy(x.begin(), x.end());
      const std::span<const float> y = b->forward(std::vector<int32_t>{next}, false);
      ASSERT_EQ(x_copy.size(), y.size());
      EXPECT_EQ(std::memcmp(x_copy.data(), y.data(), y.size() * sizeof(float)), 0) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace owl
