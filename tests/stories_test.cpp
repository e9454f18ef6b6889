// stories260K, the bundled real model: exact greedy text end to end, and its perplexity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "owl/generate.h"
#include "owl/model.h"
#include "owl/tokenizer.h"
#include "test_util.h"

namespace owl {
namespace {

nlohmann::json golden() { return test::read_json(test::fixtures() / "golden" / "stories260K.json"); }
std::filesystem::path bundled() { return std::filesystem::path(OWL_SOURCE_DIR) / "models" / "stories260K"; }

TEST(Stories, BundledCopyMatchesFixture) {
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(test::read_file(bundled() / name), test::read_file(test::fixtures() / "stories260K" / name)) << name;
}

TEST(Stories, GreedyIdsThroughTheLibrary) {
  auto tok = tokenizer::from_dir(bundled());
  auto m = model::load(bundled(), load_options{.threads = 2});
  const nlohmann::json cases = golden()["cases"];  // a copy: the temporary dies before the loop
  for (const auto& c : cases) {
    const auto prompt = tok->encode(c["prompt"].get<std::string>(), true);
    ASSERT_EQ(prompt, c["prompt_ids"].get<std::vector<int32_t>>()) << c["prompt"];
    const auto expected = c["greedy_ids"].get<std::vector<int32_t>>();
    auto s = m->new_session();
    generate_options options;
    options.max_tokens = int64_t(expected.size());
    options.sampling.temperature = 0;
    options.stop_ids = m->defaults().eos_ids;
    EXPECT_EQ(generate(*s, prompt, options).tokens, expected) << c["prompt"];
    EXPECT_EQ(tok->decode(expected), c["greedy_text"].get<std::string>());
  }
}

TEST(Stories, GreedyTextThroughOwlRun) {
  const nlohmann::json cases = golden()["cases"];  // a copy: the temporary dies before the loop
  for (const auto& c : cases) {
    const std::string prompt = c["prompt"].get<std::string>();
    const std::string text = c["greedy_text"].get<std::string>();
    const size_t n = c["greedy_ids"].size();
    // No MODEL argument: the bundled stories260K.
    auto r = test::run_owl("run -p " + test::shell_quote(prompt) + " -n " + std::to_string(n) + " --temp 0 -t 2");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // stdout: the prompt, then the continuation decoded in its context, then a newline. The
    // golden text is the continuation decoded alone, which drops SentencePiece's leading space.
    ASSERT_TRUE(r.out.starts_with(prompt)) << r.out;
    const std::string continuation = r.out.substr(prompt.size());
    EXPECT_TRUE(continuation == text + "\n" || continuation == " " + text + "\n") << "got: " << continuation;
    EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
  }
}

TEST(Stories, SameSeedSameSample) {
  auto a = test::run_owl("run -p 'Once upon a time' -n 40 --temp 0.9 --top-p 0.95 --seed 7 -t 2");
  auto b = test::run_owl("run -p 'Once upon a time' -n 40 --temp 0.9 --top-p 0.95 --seed 7 -t 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(Stories, PerplexityMatchesTransformers) {
  const auto c = golden()["perplexity_case"];
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  auto m = model::load(bundled(), load_options{.threads = 2});
  auto s = m->new_session(int64_t(ids.size()));
  std::span<const float> logits = s->forward(ids, true);
  const size_t vocab = size_t(m->info().vocab_size);
  double sum_nll = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    auto row = logits.subspan(t * vocab, vocab);
    double max = *std::max_element(row.begin(), row.end()), sum = 0;
    for (float v : row) sum += std::exp(double(v) - max);
    sum_nll -= double(row[size_t(ids[t + 1])]) - max - std::log(sum);
  }
  EXPECT_NEAR(sum_nll, c["sum_nll"].get<double>(), 1e-3);
}

TEST(Stories, PromptPlusMaxTokensBeyondContextIsAnError) {
  auto r = test::run_owl("run -p 'Once upon a time' -n 600 --temp 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceed the context"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace owl
