// owl/perplexity.h — perplexity of a model on a text, and the KL divergence of a (quantized)
// model from a base model's saved log-probabilities, in the manner of llama.cpp's
// llama-perplexity (so the figures are comparable with the ones it prints).
//
// Chunking (llama.cpp's convention): the token ids of the whole text (as the tokenizer encodes
// it with its special tokens, so usually a leading BOS) are cut into chunks of n_ctx tokens;
// a trailing partial chunk is dropped. Each chunk runs in an empty KV cache; when the model has
// a BOS token it overwrites the chunk's first token, so every chunk starts like a document.
// Only the second half is scored: the logits at positions n_ctx/2 .. n_ctx-2 predict tokens
// n_ctx/2+1 .. n_ctx-1, so every scored token sees at least n_ctx/2 tokens of context and the
// figure does not depend on how the cut fell. That is n_ctx - 1 - n_ctx/2 tokens per chunk.
//
// Base log-probabilities file (`owl perplexity --save-logits`), all little-endian:
//   offset  0  char[8]  magic "OWLKLD1\0"
//           8  u32      version (1)
//          12  u32      n_ctx
//          16  u64      vocab size
//          24  u64      n_tokens: token ids of the evaluated text
//          32  u64      n_chunks evaluated (<= n_tokens / n_ctx)
//          40  u64      n_scored = n_chunks * (n_ctx - 1 - n_ctx/2)
//          48  i32      BOS id written over each chunk's first token, -1 for none
//          52  u32      reserved, 0
//          56  i32[n_tokens]  the token ids
//          then n_scored rows of float32[vocab]: the full log-softmax at each scored position,
//          chunk by chunk, position by position.
// Rows are float32 (vocab * 4 bytes per scored token: 2 KiB for a 512-token vocabulary, 128 KiB
// for 32000) so that a model compared with itself gives exactly zero; the file holds nothing
// else, and the reader checks every size (with overflow checks) against the file length.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace owl {

class model;

struct perplexity_options {
  int64_t n_ctx = 512;
  int64_t max_chunks = 0;           // 0 = every whole chunk of the text
  std::optional<int32_t> bos_id;    // written over each chunk's first token
  // false scores every position after the first (all n_ctx - 1 predictions of a chunk), for
  // comparing with a whole-sequence NLL computed elsewhere; the CLI always scores half.
  bool score_second_half = true;
};

// Number of whole chunks and tokens scored per chunk for n_tokens ids.
struct perplexity_plan {
  int64_t n_ctx = 0;
  int64_t chunks = 0;
  int64_t first_scored = 0;         // position of the first scored logits row in a chunk
  int64_t scored_per_chunk = 0;
};
// Throws owl::error when the text holds no whole chunk or n_ctx is below 3.
perplexity_plan plan_perplexity(int64_t n_tokens, const perplexity_options& options);

// One scored position, as handed to the per-token callback.
struct scored_token {
  int64_t index = 0;                // 0-based over all scored tokens
  int64_t chunk = 0;
  int32_t target = 0;               // the token that should come next
  double nll = 0;                   // -log p(target), in double from the float logits
  std::span<const float> log_probs; // full log-softmax [vocab], float32; valid during the call
};

struct chunk_progress {
  int64_t chunk = 0;                // 0-based, the one just finished
  int64_t chunks = 0;
  double running_ppl = 0;           // over every token scored so far
  double seconds = 0;               // wall time of this chunk
};

struct perplexity_result {
  int64_t n_ctx = 0;
  int64_t chunks = 0;
  int64_t tokens = 0;               // scored tokens
  double mean_nll = 0;
  double nll_error = 0;             // standard error of mean_nll: sd(nll) / sqrt(n)
  double ppl = 0;                   // exp(mean_nll)
  double ppl_error = 0;             // ppl * nll_error (first-order propagation, as llama.cpp)
  std::vector<double> nll;          // per scored token
};

// Evaluates `tokens` (the whole text) chunk by chunk. `on_token` (optional) sees every scored
// position with its log-softmax; `on_chunk` reports progress.
perplexity_result evaluate_perplexity(model& m, std::span<const int32_t> tokens, const perplexity_options& options,
                                      const std::function<void(const scored_token&)>& on_token = {},
                                      const std::function<void(const chunk_progress&)>& on_chunk = {});

// Mean, standard error and PPL of a list of per-token NLLs (llama.cpp's formulas).
perplexity_result summarize_nll(std::vector<double> nll);

// ---- base log-probabilities file ----

struct logprob_header {
  uint32_t version = 1;
  int64_t n_ctx = 0;
  int64_t vocab = 0;
  int64_t chunks = 0;
  int64_t scored = 0;
  std::optional<int32_t> bos_id;
  std::vector<int32_t> tokens;
};

// Writes the header, then one row per scored token; finish() checks the count and flushes.
class logprob_writer {
 public:
  logprob_writer(const std::filesystem::path& path, const logprob_header& header);
  ~logprob_writer();
  logprob_writer(const logprob_writer&) = delete;
  logprob_writer& operator=(const logprob_writer&) = delete;
  void write_row(std::span<const float> log_probs);
  void finish();

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  int64_t vocab_ = 0, expected_ = 0, written_ = 0;
};

// Opens and validates a base file (untrusted): magic, version, sizes against the file length
// (overflow-checked), plan consistency. Rows are then read one at a time (files can be GBs).
class logprob_reader {
 public:
  explicit logprob_reader(const std::filesystem::path& path);
  ~logprob_reader();
  logprob_reader(const logprob_reader&) = delete;
  logprob_reader& operator=(const logprob_reader&) = delete;
  const logprob_header& header() const { return header_; }
  void read_row(std::span<float> out);  // the next row; an error past the last one

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  logprob_header header_;
  int64_t read_ = 0;
};

// Evaluates the model and writes every scored position's log-softmax to `path`.
perplexity_result save_base_logprobs(model& m, std::span<const int32_t> tokens, const perplexity_options& options,
                                     const std::filesystem::path& path,
                                     const std::function<void(const chunk_progress&)>& on_chunk = {});

// ---- KL divergence ----

struct kl_result {
  int64_t tokens = 0;
  perplexity_result base, model;    // base from the saved rows, model from this run
  double mean_ln_ratio = 0, mean_ln_ratio_error = 0;  // mean of ln p_base - ln p_model of the target
  double ppl_ratio = 0, ppl_ratio_error = 0;          // PPL(model) / PPL(base) = exp(mean_ln_ratio)
  double ln_ppl_correlation = 0;    // Pearson correlation of the per-token NLLs
  double kl_mean = 0, kl_error = 0; // KL(base || model) per token, nats
  double kl_max = 0, kl_p999 = 0, kl_p99 = 0, kl_p90 = 0, kl_median = 0, kl_min = 0;
  double rms_delta_p = 0;           // RMS over tokens of p_model(target) - p_base(target)
  double same_top = 0, same_top_error = 0;  // fraction with the same argmax token
};

// Accumulates per-token statistics; add() one scored position at a time.
class kl_accumulator {
 public:
  // Both rows are log-softmax over the same vocabulary; target is the token that came next.
  void add(std::span<const float> base_log_probs, std::span<const float> model_log_probs, int32_t target);
  kl_result result() const;

 private:
  std::vector<double> kl_, base_nll_, model_nll_, delta_p_;
  int64_t same_top_ = 0;
};

// Runs the model on `tokens` with the chunking (n_ctx, chunks) stored in the base file and
// compares. The token ids, vocabulary size and BOS must match the file's (else owl::error).
// Both PPLs in the result come from the float32 log-softmax rows, so equal models give ratio 1.
kl_result evaluate_kl_divergence(model& m, std::span<const int32_t> tokens, std::optional<int32_t> bos_id,
                                 const std::filesystem::path& base_path,
                                 const std::function<void(const chunk_progress&)>& on_chunk = {});

// Log-softmax of one logits row into `out` (same size), in double internally; every row saved
// or compared goes through it, so a model against itself compares exactly equal.
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace owl
