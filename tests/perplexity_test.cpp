// Perplexity and KL divergence (include/owl/perplexity.h, `owl perplexity`) on the bundled
// stories260K and GGUF quantizations of it made here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "owl/convert.h"
#include "owl/error.h"
#include "owl/model.h"
#include "owl/perplexity.h"
#include "owl/tokenizer.h"
#include "test_util.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

fs::path text_file() { return fs::path(OWL_SOURCE_DIR) / "tests" / "data" / "stories.txt"; }

struct encoded_text {
  std::vector<int32_t> ids;
  std::optional<int32_t> bos;
};

// As the CLI encodes a text file: with the tokenizer's BOS.
encoded_text encode(const fs::path& model_path, const std::string& text) {
  auto tok = load_tokenizer(model_path);
  encoded_text e;
  e.ids = tok->encode(text, true);
  if (tok->bos_id() && !e.ids.empty() && e.ids[0] == *tok->bos_id()) e.bos = tok->bos_id();
  return e;
}

std::shared_ptr<model> stories() {
  static auto m = model::load(default_model_dir(), load_options{.threads = 2});
  return m;
}

// GGUF files of stories260K, written once per test run into one temp folder.
fs::path quantized(const std::string& type) {
  static test::temp_dir dir("ppl");
  static std::map<std::string, fs::path> made;
  if (auto it = made.find(type); it != made.end()) return it->second;
  const fs::path file = dir / ("stories260K-" + type + ".gguf");
  convert_to_gguf(default_model_dir(), file, parse_gguf_type(type));
  return made[type] = file;
}

// Direct NLL of ids[i + 1] given ids[0..i], from one forward pass (the reference).
std::vector<double> direct_nll(const std::vector<int32_t>& ids) {
  auto s = stories()->new_session(int64_t(ids.size()));
  const std::span<const float> logits = s->forward(ids, true);
  const size_t vocab = size_t(stories()->info().vocab_size);
  std::vector<double> nll;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const auto row = logits.subspan(t * vocab, vocab);
    const double max = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float v : row) sum += std::exp(double(v) - max);
    nll.push_back(max + std::log(sum) - double(row[size_t(ids[t + 1])]));
  }
  return nll;
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const owl::error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(PerplexityPlan, ChunksAndScoredPositions) {
  perplexity_options o;
  o.n_ctx = 128;
  const perplexity_plan p = plan_perplexity(1000, o);
  EXPECT_EQ(p.chunks, 7);  // the trailing 104 tokens are dropped
  EXPECT_EQ(p.first_scored, 64);
  EXPECT_EQ(p.scored_per_chunk, 63);
  o.max_chunks = 2;
  EXPECT_EQ(plan_perplexity(1000, o).chunks, 2);
  o.score_second_half = false;
  EXPECT_EQ(plan_perplexity(1000, o).scored_per_chunk, 127);
  expect_error([&] { plan_perplexity(127, o); }, "fewer than one chunk");
  o.n_ctx = 2;
  expect_error([&] { plan_perplexity(1000, o); }, "context of 2 tokens");
}

TEST(PerplexityStories, GoldenTextMatchesTransformers) {
  // stories_test's golden: the summed NLL of a text's 44 predictions, from transformers.
  const auto c = test::read_json(test::fixtures() / "golden" / "stories260K.json")["perplexity_case"];
  const auto ids = c["ids"].get<std::vector<int32_t>>();
  perplexity_options o;
  o.n_ctx = int64_t(ids.size());
  o.score_second_half = false;  // the golden scores every prediction
  o.bos_id = 1;
  ASSERT_EQ(ids[0], 1);
  const perplexity_result r = evaluate_perplexity(*stories(), ids, o);
  ASSERT_EQ(r.tokens, c["tokens_scored"].get<int64_t>());
  const double golden_ppl = std::exp(c["sum_nll"].get<double>() / double(r.tokens));
  EXPECT_NEAR(r.ppl, golden_ppl, 1e-4 * golden_ppl);
  EXPECT_NEAR(r.ppl, c["ppl"].get<double>(), 1e-4 * golden_ppl);
  EXPECT_NEAR(r.mean_nll * double(r.tokens), c["sum_nll"].get<double>(), 1e-3);
  EXPECT_EQ(r.chunks, 1);
  // The standard error as llama.cpp computes it: sd(nll) / sqrt(n), times PPL.
  double mean = 0, ss = 0;
  for (double v : r.nll) mean += v / double(r.nll.size());
  for (double v : r.nll) ss += (v - mean) * (v - mean);
  const double se = std::sqrt(ss / double(r.nll.size() - 1) / double(r.nll.size()));
  EXPECT_NEAR(r.ppl_error, r.ppl * se, 1e-12);
}

TEST(PerplexityStories, ScoresTheSecondHalfOfEachChunkAfterBos) {
  const encoded_text text = encode(default_model_dir(), test::read_file(text_file()));
  ASSERT_TRUE(text.bos.has_value());
  perplexity_options o;
  o.n_ctx = 64;
  o.max_chunks = 3;
  o.bos_id = text.bos;
  std::vector<scored_token> seen;
  std::vector<int64_t> chunks_reported;
  const perplexity_result r = evaluate_perplexity(
      *stories(), text.ids, o, [&](const scored_token& t) { seen.push_back(t); seen.back().log_probs = {}; },
      [&](const chunk_progress& p) { chunks_reported.push_back(p.chunk); });
  ASSERT_EQ(r.tokens, 3 * 31);
  ASSERT_EQ(seen.size(), size_t(r.tokens));
  EXPECT_EQ(chunks_reported, (std::vector<int64_t>{0, 1, 2}));
  // Chunk 2 by hand: its 64 ids with the first overwritten by BOS, in a fresh sequence.
  std::vector<int32_t> chunk(text.ids.begin() + 128, text.ids.begin() + 192);
  chunk[0] = *text.bos;
  const std::vector<double> nll = direct_nll(chunk);
  for (int64_t j = 32; j < 63; ++j) {
    const scored_token& t = seen[size_t(62 + j - 32)];
    EXPECT_EQ(t.chunk, 2);
    EXPECT_EQ(t.target, chunk[size_t(j + 1)]);
    EXPECT_NEAR(t.nll, nll[size_t(j)], 1e-4) << j;
    EXPECT_EQ(r.nll[size_t(t.index)], t.nll);
  }
}

TEST(PerplexityKl, ModelAgainstItselfIsZero) {
  const encoded_text text = encode(default_model_dir(), test::read_file(text_file()));
  test::temp_dir dir("kl-self");
  perplexity_options o;
  o.n_ctx = 128;
  o.bos_id = text.bos;
  const perplexity_result saved = save_base_logprobs(*stories(), text.ids, o, dir / "base.kld");
  const kl_result r = evaluate_kl_divergence(*stories(), text.ids, text.bos, dir / "base.kld");
  EXPECT_EQ(r.tokens, saved.tokens);
  EXPECT_NEAR(r.kl_mean, 0, 1e-6);
  EXPECT_NEAR(r.kl_max, 0, 1e-6);
  EXPECT_NEAR(r.kl_min, 0, 1e-6);
  EXPECT_EQ(r.same_top, 1.0);
  EXPECT_NEAR(r.ppl_ratio, 1.0, 1e-12);
  EXPECT_EQ(r.rms_delta_p, 0.0);
  // The PPLs of the saved float32 rows match the run's own (double) figure.
  EXPECT_NEAR(r.base.ppl, saved.ppl, 1e-5 * saved.ppl);
  EXPECT_EQ(r.model.chunks, saved.chunks);
}

TEST(PerplexityKl, QuantizedModelsDivergeInOrder) {
  const encoded_text text = encode(default_model_dir(), test::read_file(text_file()));
  test::temp_dir dir("kl-quant");
  perplexity_options o;
  o.n_ctx = 256;
  o.bos_id = text.bos;
  const perplexity_result base = save_base_logprobs(*stories(), text.ids, o, dir / "base.kld");
  std::map<std::string, kl_result> r;
  for (const std::string type : {"Q8_0", "Q4_0"}) {
    auto m = model::load(quantized(type), load_options{.threads = 2});
    const encoded_text gguf_text = encode(quantized(type), test::read_file(text_file()));
    ASSERT_EQ(gguf_text.ids, text.ids) << type;
    r[type] = evaluate_kl_divergence(*m, gguf_text.ids, gguf_text.bos, dir / "base.kld");
    EXPECT_NEAR(r[type].base.ppl, base.ppl, 1e-5 * base.ppl) << type;
    std::printf("%s: PPL %.4f (base %.4f) KLD %.6f same top %.4f\n", type.c_str(), r[type].model.ppl, base.ppl,
                r[type].kl_mean, r[type].same_top);
  }
  EXPECT_GT(r["Q8_0"].kl_mean, 0);
  EXPECT_LT(r["Q8_0"].kl_mean, 1e-3);
  EXPECT_GT(r["Q4_0"].kl_mean, r["Q8_0"].kl_mean);
  EXPECT_LT(r["Q4_0"].kl_mean, 0.5);  // 0.11 measured: 64-wide rows make Q4_0 coarse
  EXPECT_GT(r["Q8_0"].same_top, 0.97);
  EXPECT_GE(r["Q8_0"].same_top, r["Q4_0"].same_top);
  EXPECT_GE(r["Q4_0"].kl_max, r["Q4_0"].kl_p99);
  EXPECT_GE(r["Q4_0"].kl_p99, r["Q4_0"].kl_median);
}

// Header field offsets of the base file (see perplexity.h).
void patch(std::string& bytes, size_t offset, const void* value, size_t n) {
  ASSERT_LE(offset + n, bytes.size());
  std::memcpy(bytes.data() + offset, value, n);
}

TEST(PerplexityKl, BadBaseFilesAreRejected) {
  const encoded_text text = encode(default_model_dir(), test::read_file(text_file()));
  test::temp_dir dir("kl-bad");
  perplexity_options o;
  o.n_ctx = 32;
  o.max_chunks = 2;
  o.bos_id = text.bos;
  save_base_logprobs(*stories(), text.ids, o, dir / "good.kld");
  const std::string good = test::read_file(dir / "good.kld");
  const uint64_t vocab = 512, per_chunk = 15;
  ASSERT_EQ(good.size(), 56 + 4 * text.ids.size() + 2 * per_chunk * vocab * 4);
  const auto try_file = [&](const std::string& bytes, const std::string& needle) {
    test::write_file(dir / "bad.kld", bytes);
    expect_error([&] { evaluate_kl_divergence(*stories(), text.ids, text.bos, dir / "bad.kld"); }, needle);
  };
  try_file("", "shorter than the 56-byte header");
  try_file(good.substr(0, 40), "shorter than the 56-byte header");
  try_file(good.substr(0, good.size() - 1), "(truncated)");
  try_file(good + "x", "(trailing bytes)");
  std::string b = good;
  b[0] = 'X';
  try_file(b, "magic");
  b = good;
  const uint32_t v2 = 2;
  patch(b, 8, &v2, 4);
  try_file(b, "version 2");
  b = good;
  const uint64_t huge = uint64_t(1) << 62;
  patch(b, 40, &huge, 8);
  try_file(b, "overflow");
  b = good;
  const uint64_t one_more = 2 * per_chunk + 1;
  patch(b, 40, &one_more, 8);
  try_file(b, "31 scored tokens, expected 30");
  b = good;
  patch(b, 32, &huge, 8);
  try_file(b, "chunks of 32 do not fit");
  b = good;
  patch(b, 16, &huge, 8);
  try_file(b, "vocabulary size");
  b = good;
  const uint64_t big_vocab = (uint64_t(1) << 31) - 1;  // passes the range check; the product is huge
  patch(b, 16, &big_vocab, 8);
  try_file(b, "expected");
  b = good;
  const int32_t bad_id = 600;
  patch(b, 56 + 4 * 5, &bad_id, 4);
  try_file(b, "outside the vocabulary");
  b = good;
  const float nan = std::nanf("");
  patch(b, b.size() - 4, &nan, 4);
  try_file(b, "not a log-probability");
  b = good;
  const float positive = 0.5f;
  patch(b, 56 + 4 * text.ids.size(), &positive, 4);
  try_file(b, "not a log-probability");

  // Well-formed files that belong to another text or another vocabulary.
  std::vector<int32_t> other = text.ids;
  other[7] = other[7] == 5 ? 6 : 5;
  expect_error([&] { evaluate_kl_divergence(*stories(), other, text.bos, dir / "good.kld"); },
               "tokenizes differently");
  expect_error([&] { evaluate_kl_divergence(*stories(), text.ids, std::nullopt, dir / "good.kld"); }, "BOS");
  {
    logprob_header h;
    h.n_ctx = 32;
    h.vocab = 256;
    h.chunks = 1;
    h.scored = 15;
    h.bos_id = text.bos;
    for (int32_t id : text.ids) h.tokens.push_back(id % 256);  // valid in its own vocabulary
    logprob_writer w(dir / "vocab.kld", h);
    const std::vector<float> row(256, -std::log(256.0f));
    for (int i = 0; i < 15; ++i) w.write_row(row);
    w.finish();
  }
  expect_error([&] { evaluate_kl_divergence(*stories(), text.ids, text.bos, dir / "vocab.kld"); },
               "vocabulary has 256 tokens");
  expect_error([&] { evaluate_kl_divergence(*stories(), text.ids, text.bos, dir / "missing.kld"); }, "missing.kld");
}

TEST(PerplexityCli, PrintsPerplexityAndKlDivergence) {
  test::temp_dir dir("ppl-cli");
  const std::string model = test::shell_quote(default_model_dir().string());
  const std::string text = test::shell_quote(text_file().string());
  const std::string base = test::shell_quote((dir / "base.kld").string());

  auto r = test::run_owl("perplexity " + model + " " + text + " --ctx 128 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PPL = "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("[1/"), std::string::npos) << r.err;  // progress per chunk

  r = test::run_owl("perplexity " + model + " " + text + " --ctx 128 -t 2 --json --save-logits " + base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const encoded_text ids = encode(default_model_dir(), test::read_file(text_file()));
  perplexity_options o;
  o.n_ctx = 128;
  o.bos_id = ids.bos;
  const perplexity_result lib = evaluate_perplexity(*stories(), ids.ids, o);
  EXPECT_NEAR(j["ppl"].get<double>(), lib.ppl, 1e-9 * lib.ppl);
  EXPECT_EQ(j["tokens"].get<int64_t>(), lib.tokens);
  EXPECT_EQ(j["chunks"].get<int64_t>(), lib.chunks);

  const std::string q8 = test::shell_quote(quantized("Q8_0").string());
  r = test::run_owl("perplexity " + q8 + " " + text + " -t 2 --kl-divergence " + base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* figure : {"Mean PPL(Q)", "Mean PPL(Q)/PPL(base)", "Mean    KLD", "99.0%   KLD", "Same top p"})
    EXPECT_NE(r.out.find(figure), std::string::npos) << figure << "\n" << r.out;

  r = test::run_owl("perplexity " + q8 + " " + text + " -t 2 --json --kl-divergence " + base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto k = nlohmann::json::parse(r.out);
  EXPECT_GT(k["kl_mean"].get<double>(), 0);
  EXPECT_NEAR(k["base_ppl"]["ppl"].get<double>(), lib.ppl, 1e-5 * lib.ppl);

  // Another text, or another --ctx, than the base run's: one-line errors.
  test::write_file(dir / "other.txt", test::read_file(text_file()) + " The end.");
  r = test::run_owl("perplexity " + q8 + " " + test::shell_quote((dir / "other.txt").string()) +
                    " --kl-divergence " + base);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tokenizes differently"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = test::run_owl("perplexity " + q8 + " " + text + " --ctx 64 --kl-divergence " + base);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("written with --ctx 128"), std::string::npos) << r.err;
  r = test::run_owl("perplexity " + model + " " + text + " --ctx 1024");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exceeds the model's context"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace owl
