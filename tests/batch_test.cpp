// Batched forward passes (model::forward_batch, the engine of owl serve's continuous
// batching): every sequence's logits must be bitwise the ones it gets alone, whatever runs
// beside it, so a request's greedy output never depends on its neighbours.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "owl/convert.h"
#include "owl/error.h"
#include "owl/model.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

// Three sequences of different lengths: token ids from a fixed pattern inside the vocabulary.
std::vector<std::vector<int32_t>> prompts(int64_t vocab) {
  std::vector<std::vector<int32_t>> out;
  for (int64_t len : {7, 1, 19}) {
    std::vector<int32_t> p;
    for (int64_t i = 0; i < len; ++i) p.push_back(int32_t((i * 37 + len * 11 + 3) % vocab));
    out.push_back(p);
  }
  return out;
}

// Greedy decoding of `steps` tokens, alone: the logits after the prompt and after each token.
std::vector<std::vector<float>> alone(owl::model& m, const std::vector<int32_t>& prompt, int steps) {
  auto s = m.new_session(64);
  std::vector<std::vector<float>> out;
  auto logits = s->forward(prompt);
  for (int i = 0; i < steps; ++i) {
    out.emplace_back(logits.begin(), logits.end());
    const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = s->forward(std::span<const int32_t>(&next, 1));
  }
  out.emplace_back(logits.begin(), logits.end());
  return out;
}

void expect_batch_invariant(const fs::path& model_path, owl::dtype kv_type = owl::dtype::f32) {
  auto m = owl::model::load(model_path, {.threads = 2, .kv_type = kv_type});
  const auto ps = prompts(m->info().vocab_size);
  constexpr int steps = 5;
  std::vector<std::vector<std::vector<float>>> reference;
  for (const auto& p : ps) reference.push_back(alone(*m, p, steps));

  // Together, staggered: sequence i starts at step i, so passes mix prompt chunks of one
  // sequence with decode steps of others.
  std::vector<std::unique_ptr<owl::session>> sessions;
  for (size_t i = 0; i < ps.size(); ++i) sessions.push_back(m->new_session(64));
  std::vector<int> done(ps.size(), -1);  // -1: prompt not run yet; else logits compared so far
  std::vector<int32_t> next(ps.size());
  for (int step = 0; step < int(ps.size()) + steps + 1; ++step) {
    std::vector<owl::batch_item> items;
    std::vector<size_t> who;
    for (size_t i = 0; i < ps.size(); ++i) {
      if (step < int(i) || done[i] >= steps) continue;
      if (done[i] < 0) items.push_back({sessions[i].get(), ps[i], false});
      else items.push_back({sessions[i].get(), std::span<const int32_t>(&next[i], 1), false});
      who.push_back(i);
    }
    if (items.empty()) continue;
    auto logits = m->forward_batch(items);
    for (size_t k = 0; k < who.size(); ++k) {
      const size_t i = who[k];
      const int index = ++done[i];
      const auto& want = reference[i][size_t(index)];
      ASSERT_EQ(logits[k].size(), want.size());
      EXPECT_EQ(std::memcmp(logits[k].data(), want.data(), want.size() * sizeof(float)), 0)
          << model_path.filename() << " sequence " << i << " step " << index;
      next[i] = int32_t(std::max_element(logits[k].begin(), logits[k].end()) - logits[k].begin());
    }
  }
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(done[i], steps) << i;
}

class BatchInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchInvariance, LogitsAreBitwiseTheSameAloneAndBatched) {
  expect_batch_invariant(owl::test::fixtures() / "models" / GetParam());
}

// A prompt's last-token logits are bitwise the last row of its all-token logits: the pass that
// wants only the last row drops the others after the last layer's attention, and that must not
// change the row it keeps. Also over two passes (a prompt longer than one pass's 512 rows).
TEST_P(BatchInvariance, LastLogitsAreTheLastRowOfAllLogits) {
  auto m = owl::model::load(owl::test::fixtures() / "models" / GetParam(), {.threads = 2});
  const int64_t vocab = m->info().vocab_size;
  for (size_t len : {1, 2, 23, 600}) {
    if (int64_t(len) > m->info().context_length) continue;
    std::vector<int32_t> p(len);
    for (size_t i = 0; i < len; ++i) p[i] = int32_t((i * 29 + 5) % size_t(vocab));
    auto all_session = m->new_session(int64_t(len));
    const auto all = all_session->forward(p, true);
    std::vector<float> last_row(all.end() - vocab, all.end());
    auto last_session = m->new_session(int64_t(len));
    const auto last = last_session->forward(p);
    ASSERT_EQ(last.size(), size_t(vocab));
    EXPECT_EQ(std::memcmp(last.data(), last_row.data(), size_t(vocab) * sizeof(float)), 0) << GetParam() << " len " << len;
  }
}

// Dense (F32, BF16, F16), MoE, latent attention, sliding window + softcaps, sinks, parallel residual.
INSTANTIATE_TEST_SUITE_P(Fixtures, BatchInvariance,
                         ::testing::Values("llama3", "llama3_bf16", "qwen2_f16", "qwen3_moe", "deepseek_v3", "gemma3",
                                           "gpt_oss", "gpt_neox"));

TEST(BatchInvarianceHalfKv, F16CachesAreBitwiseTheSameAloneAndBatched) {
  for (const char* name : {"llama3", "deepseek_v3", "gemma3"})
    expect_batch_invariant(owl::test::fixtures() / "models" / name, owl::dtype::f16);
}

TEST(BatchInvarianceQuantized, Q8AndQ4GgufAreBitwiseTheSameAloneAndBatched) {
  owl::test::temp_dir dir("batch");
  for (const char* type : {"Q8_0", "Q4_K_M"}) {
    const fs::path file = dir / (std::string(type) + ".gguf");
    owl::convert_to_gguf(owl::test::fixtures() / "models" / "llama3", file, owl::parse_gguf_type(type));
    expect_batch_invariant(file);
  }
}

TEST(BatchForward, BigBatchesSplitIntoPassesLikeAlone) {
  // 200 + 250 + 150 rows: over one pass's 512, so the last item continues in a second pass.
  auto m = owl::model::load(owl::test::fixtures() / "models" / "qwen3", {.threads = 2});
  std::vector<std::vector<int32_t>> ps;
  for (size_t len : {200, 250, 150}) {
    std::vector<int32_t> p(len);
    for (size_t i = 0; i < len; ++i) p[i] = int32_t((i * 13 + len) % size_t(m->info().vocab_size));
    ps.push_back(p);
  }
  std::vector<std::vector<float>> want;
  for (const auto& p : ps) {
    auto s = m->new_session(256);
    auto l = s->forward(p, true);
    want.emplace_back(l.begin(), l.end());
  }
  std::vector<std::unique_ptr<owl::session>> sessions;
  std::vector<owl::batch_item> items;
  for (const auto& p : ps) {
    sessions.push_back(m->new_session(256));
    items.push_back({sessions.back().get(), p, true});
  }
  auto got = m->forward_batch(items);
  for (size_t i = 0; i < ps.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << i;
    EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)), 0) << i;
    EXPECT_EQ(sessions[i]->n_past(), int64_t(ps[i].size()));
  }
}

TEST(BatchForward, RejectsBadBatchesBeforeRunningAny) {
  auto m = owl::model::load(owl::test::fixtures() / "models" / "llama3", {.threads = 1});
  auto other = owl::model::load(owl::test::fixtures() / "models" / "llama3", {.threads = 1});
  auto a = m->new_session(8), b = m->new_session(8), foreign = other->new_session(8);
  const int32_t ok[] = {1, 2}, bad[] = {1, int32_t(m->info().vocab_size)}, many[9] = {};
  auto expect_error = [&](std::vector<owl::batch_item> items, const char* what) {
    EXPECT_THROW(m->forward_batch(items), owl::error) << what;
    EXPECT_EQ(a->n_past(), 0) << what;
    EXPECT_EQ(b->n_past(), 0) << what;
  };
  expect_error({{a.get(), ok}, {a.get(), ok}}, "same session twice");
  expect_error({{a.get(), ok}, {b.get(), bad}}, "token out of range");
  expect_error({{a.get(), ok}, {b.get(), many}}, "over capacity");
  expect_error({{a.get(), ok}, {foreign.get(), ok}}, "another model's session");
  expect_error({{a.get(), ok}, {b.get(), {}}}, "no tokens");
  EXPECT_THROW(m->forward_batch({}), owl::error);
}

}  // namespace
