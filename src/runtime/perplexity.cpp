// Perplexity and KL divergence (see include/owl/perplexity.h for the conventions and the file
// format).
#include "owl/perplexity.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "owl/error.h"
#include "owl/model.h"

namespace owl {
namespace {

static_assert(std::endian::native == std::endian::little, "the logprob file is written in host order");

constexpr char magic[8] = {'O', 'W', 'L', 'K', 'L', 'D', '1', '\0'};
constexpr uint32_t file_version = 1;
constexpr uint64_t header_bytes = 56;

double log_sum_exp(std::span<const float> row) {
  const double max = *std::max_element(row.begin(), row.end());
  if (!std::isfinite(max)) return max;  // all -inf (or a NaN/inf logit): nothing to normalize
  double sum = 0;
  for (float v : row) sum += std::exp(double(v) - max);
  return max + std::log(sum);
}

template <typename T>
void put(std::vector<unsigned char>& out, T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

template <typename T>
T get(const unsigned char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

struct moments {
  double mean = 0, sd = 0;  // sd: sample standard deviation (n - 1)
};

moments mean_sd(const std::vector<double>& v) {
  moments m;
  const double n = double(v.size());
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= n;
  double ss = 0;
  for (double x : v) ss += (x - m.mean) * (x - m.mean);
  m.sd = v.size() > 1 ? std::sqrt(ss / (n - 1)) : 0;
  return m;
}

// Linear interpolation between the closest ranks of a sorted vector.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double at = p * double(sorted.size() - 1);
  const size_t lo = size_t(at);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (at - double(lo)) * (sorted[hi] - sorted[lo]);
}

size_t argmax(std::span<const float> row) {
  return size_t(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

void log_softmax(std::span<const float> logits, std::span<float> out) {
  if (out.size() != logits.size()) fail("log_softmax", "output size differs from the input's");
  const double lse = log_sum_exp(logits);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = float(double(logits[i]) - lse);
}

perplexity_plan plan_perplexity(int64_t n_tokens, const perplexity_options& options) {
  perplexity_plan plan;
  plan.n_ctx = options.n_ctx;
  // Below 3 the second half of a chunk holds no prediction to score.
  if (plan.n_ctx < 3) fail("perplexity", "context of " + std::to_string(plan.n_ctx) + " tokens", "use --ctx 3 or more");
  plan.chunks = n_tokens / plan.n_ctx;
  if (plan.chunks == 0)
    fail("perplexity", "the text has " + std::to_string(n_tokens) + " tokens, fewer than one chunk of " +
                           std::to_string(plan.n_ctx),
         "use a longer text or a smaller --ctx");
  if (options.max_chunks > 0) plan.chunks = std::min(plan.chunks, options.max_chunks);
  plan.first_scored = options.score_second_half ? plan.n_ctx / 2 : 0;
  plan.scored_per_chunk = plan.n_ctx - 1 - plan.first_scored;
  return plan;
}

perplexity_result summarize_nll(std::vector<double> nll) {
  perplexity_result r;
  const moments m = mean_sd(nll);
  r.tokens = int64_t(nll.size());
  r.mean_nll = m.mean;
  r.nll_error = nll.empty() ? 0 : m.sd / std::sqrt(double(nll.size()));
  r.ppl = std::exp(m.mean);
  r.ppl_error = r.ppl * r.nll_error;
  r.nll = std::move(nll);
  return r;
}

perplexity_result evaluate_perplexity(model& m, std::span<const int32_t> tokens, const perplexity_options& options,
                                      const std::function<void(const scored_token&)>& on_token,
                                      const std::function<void(const chunk_progress&)>& on_chunk) {
  const perplexity_plan plan = plan_perplexity(int64_t(tokens.size()), options);
  if (plan.n_ctx > m.info().context_length)
    fail("perplexity", "context of " + std::to_string(plan.n_ctx) + " tokens exceeds the model's " +
                           std::to_string(m.info().context_length),
         "use a smaller --ctx");
  const size_t vocab = size_t(m.info().vocab_size);
  auto s = m.new_session(plan.n_ctx);
  std::vector<int32_t> chunk(size_t(plan.n_ctx));
  std::vector<float> row(on_token ? vocab : 0);
  std::vector<double> nll;
  nll.reserve(size_t(plan.chunks * plan.scored_per_chunk));
  double sum = 0;
  for (int64_t c = 0; c < plan.chunks; ++c) {
    const auto start = std::chrono::steady_clock::now();
    std::copy_n(tokens.begin() + c * plan.n_ctx, plan.n_ctx, chunk.begin());
    if (options.bos_id) chunk[0] = *options.bos_id;
    s->reset();  // an empty cache: every chunk is a fresh sequence, as in llama.cpp
    const std::span<const float> logits = s->forward(chunk, true);
    for (int64_t j = plan.first_scored; j + 1 < plan.n_ctx; ++j) {
      const auto logit_row = logits.subspan(size_t(j) * vocab, vocab);
      const int32_t target = chunk[size_t(j + 1)];  // forward() checked it is in range
      const double token_nll = log_sum_exp(logit_row) - double(logit_row[size_t(target)]);
      if (on_token) {
        log_softmax(logit_row, row);
        on_token(scored_token{int64_t(nll.size()), c, target, token_nll, row});
      }
      nll.push_back(token_nll);
      sum += token_nll;
    }
    if (on_chunk) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      on_chunk(chunk_progress{c, plan.chunks, std::exp(sum / double(nll.size())), seconds});
    }
  }
  perplexity_result r = summarize_nll(std::move(nll));
  r.n_ctx = plan.n_ctx;
  r.chunks = plan.chunks;
  return r;
}

// ---- the base log-probabilities file ----

logprob_writer::logprob_writer(const std::filesystem::path& path, const logprob_header& h)
    : path_(path), vocab_(h.vocab), expected_(h.scored) {
  file_ = std::fopen(path.string().c_str(), "wb");
  if (!file_) fail(path.string(), std::string("cannot create the file: ") + std::strerror(errno));
  std::vector<unsigned char> out;
  out.insert(out.end(), magic, magic + 8);
  put<uint32_t>(out, file_version);
  put<uint32_t>(out, uint32_t(h.n_ctx));
  put<uint64_t>(out, uint64_t(h.vocab));
  put<uint64_t>(out, uint64_t(h.tokens.size()));
  put<uint64_t>(out, uint64_t(h.chunks));
  put<uint64_t>(out, uint64_t(h.scored));
  put<int32_t>(out, h.bos_id.value_or(-1));
  put<uint32_t>(out, 0);
  for (int32_t t : h.tokens) put<int32_t>(out, t);
  if (std::fwrite(out.data(), 1, out.size(), file_) != out.size()) fail(path_.string(), "write failed (disk full?)");
}

logprob_writer::~logprob_writer() {
  if (!file_) return;
  // Not finished: an exception cut the run short. A partial file would only fail later.
  std::fclose(file_);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void logprob_writer::write_row(std::span<const float> log_probs) {
  if (int64_t(log_probs.size()) != vocab_ || written_ >= expected_)
    fail(path_.string(), "row " + std::to_string(written_) + " does not fit the header");
  if (std::fwrite(log_probs.data(), sizeof(float), log_probs.size(), file_) != log_probs.size())
    fail(path_.string(), "write failed (disk full?)");
  ++written_;
}

void logprob_writer::finish() {
  if (written_ != expected_)
    fail(path_.string(), "expected " + std::to_string(expected_) + " rows, wrote " + std::to_string(written_));
  const bool ok = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) fail(path_.string(), "write failed (disk full?)");
}

logprob_reader::logprob_reader(const std::filesystem::path& path) : path_(path) {
  const std::string where = path.string();
  const std::string hint = "write it with `owl perplexity BASE_MODEL FILE --save-logits`";
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(where, "cannot read the base log-probabilities file: " + ec.message());
  file_ = std::fopen(where.c_str(), "rb");
  if (!file_) fail(where, std::string("cannot open the file: ") + std::strerror(errno));
  unsigned char h[header_bytes];
  if (size < header_bytes || std::fread(h, 1, header_bytes, file_) != header_bytes)
    fail(where, "file of " + std::to_string(size) + " bytes is shorter than the 56-byte header", hint);
  if (std::memcmp(h, magic, 8) != 0) fail(where, "not an owl base log-probabilities file (magic is not OWLKLD1)", hint);
  header_.version = get<uint32_t>(h + 8);
  if (header_.version != file_version)
    fail(where, "version " + std::to_string(header_.version) + ", this owl reads version 1", hint);
  const uint32_t n_ctx = get<uint32_t>(h + 12);
  const uint64_t vocab = get<uint64_t>(h + 16), n_tokens = get<uint64_t>(h + 24);
  const uint64_t chunks = get<uint64_t>(h + 32), scored = get<uint64_t>(h + 40);
  const int32_t bos = get<int32_t>(h + 48);
  if (get<uint32_t>(h + 52) != 0) fail(where, "reserved header field is not 0 (corrupt file)", hint);
  if (n_ctx < 3) fail(where, "context of " + std::to_string(n_ctx) + " tokens, expected at least 3 (corrupt file)", hint);
  if (vocab == 0 || vocab > uint64_t(std::numeric_limits<int32_t>::max()))
    fail(where, "vocabulary size " + std::to_string(vocab) + " is out of range (corrupt file)", hint);
  if (bos < -1 || (bos >= 0 && uint64_t(bos) >= vocab))
    fail(where, "BOS id " + std::to_string(bos) + " is outside the vocabulary (corrupt file)", hint);
  if (chunks == 0 || chunks > n_tokens / n_ctx)
    fail(where, std::to_string(chunks) + " chunks of " + std::to_string(n_ctx) + " do not fit " +
                    std::to_string(n_tokens) + " tokens (corrupt file)", hint);
  // chunks <= n_tokens / n_ctx; the products below are checked before anything is allocated.
  const uint64_t per_chunk = n_ctx - 1 - n_ctx / 2;
  uint64_t expected_scored = 0, token_bytes = 0, row_bytes = 0, rows_bytes = 0, total = 0;
  const bool overflow = __builtin_mul_overflow(chunks, per_chunk, &expected_scored) ||
                        __builtin_mul_overflow(n_tokens, uint64_t(4), &token_bytes) ||
                        __builtin_mul_overflow(vocab, uint64_t(4), &row_bytes) ||
                        __builtin_mul_overflow(scored, row_bytes, &rows_bytes) ||
                        __builtin_add_overflow(header_bytes, token_bytes, &total) ||
                        __builtin_add_overflow(total, rows_bytes, &total);
  if (overflow) fail(where, "header sizes overflow (corrupt file)", hint);
  if (scored != expected_scored)
    fail(where, std::to_string(scored) + " scored tokens, expected " + std::to_string(expected_scored) + " for " +
                    std::to_string(chunks) + " chunks of " + std::to_string(n_ctx) + " (corrupt file)", hint);
  if (size != total)
    fail(where, "expected " + std::to_string(total) + " bytes for the sizes in its header, found " +
                    std::to_string(size) + (size < total ? " (truncated)" : " (trailing bytes)"), hint);
  header_.n_ctx = n_ctx;
  header_.vocab = int64_t(vocab);
  header_.chunks = int64_t(chunks);
  header_.scored = int64_t(scored);
  if (bos >= 0) header_.bos_id = bos;
  header_.tokens.resize(n_tokens);  // at most size / 4 ids: the file length bounds it
  if (std::fread(header_.tokens.data(), 4, n_tokens, file_) != n_tokens) fail(where, "truncated token ids", hint);
  for (size_t i = 0; i < header_.tokens.size(); ++i)
    if (header_.tokens[i] < 0 || uint64_t(header_.tokens[i]) >= vocab)
      fail(where, "token id " + std::to_string(header_.tokens[i]) + " at " + std::to_string(i) +
                      " is outside the vocabulary of " + std::to_string(vocab) + " (corrupt file)", hint);
}

logprob_reader::~logprob_reader() {
  if (file_) std::fclose(file_);
}

void logprob_reader::read_row(std::span<float> out) {
  if (int64_t(out.size()) != header_.vocab) fail(path_.string(), "row buffer of the wrong size");
  if (read_ >= header_.scored) fail(path_.string(), "read past the last of " + std::to_string(header_.scored) + " rows");
  if (std::fread(out.data(), sizeof(float), out.size(), file_) != out.size())
    fail(path_.string(), "truncated at row " + std::to_string(read_));
  // A log-softmax is <= 0 (log_softmax guarantees it after rounding); this also rejects NaN.
  for (float v : out)
    if (!(v <= 0)) fail(path_.string(), "row " + std::to_string(read_) + " holds a value that is not a log-probability (corrupt file)");
  ++read_;
}

perplexity_result save_base_logprobs(model& m, std::span<const int32_t> tokens, const perplexity_options& options,
                                     const std::filesystem::path& path,
                                     const std::function<void(const chunk_progress&)>& on_chunk) {
  const perplexity_plan plan = plan_perplexity(int64_t(tokens.size()), options);
  if (!options.score_second_half) fail(path.string(), "a base file always scores the second half of each chunk");
  logprob_header h;
  h.n_ctx = plan.n_ctx;
  h.vocab = m.info().vocab_size;
  h.chunks = plan.chunks;
  h.scored = plan.chunks * plan.scored_per_chunk;
  h.bos_id = options.bos_id;
  h.tokens.assign(tokens.begin(), tokens.end());
  logprob_writer writer(path, h);
  perplexity_result r = evaluate_perplexity(
      m, tokens, options, [&](const scored_token& t) { writer.write_row(t.log_probs); }, on_chunk);
  writer.finish();
  return r;
}

// ---- KL divergence ----

void kl_accumulator::add(std::span<const float> base, std::span<const float> model, int32_t target) {
  if (base.size() != model.size() || base.empty() || target < 0 || size_t(target) >= base.size())
    fail("kl_divergence", "rows of different sizes or a target outside the vocabulary");
  double kl = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double lb = base[i];
    if (lb == -std::numeric_limits<double>::infinity()) continue;  // p = 0 contributes 0
    kl += std::exp(lb) * (lb - double(model[i]));
  }
  kl_.push_back(kl);
  base_nll_.push_back(-double(base[size_t(target)]));
  model_nll_.push_back(-double(model[size_t(target)]));
  delta_p_.push_back(std::exp(double(model[size_t(target)])) - std::exp(double(base[size_t(target)])));
  if (argmax(base) == argmax(model)) ++same_top_;
}

kl_result kl_accumulator::result() const {
  kl_result r;
  r.tokens = int64_t(kl_.size());
  if (kl_.empty()) return r;
  const double n = double(kl_.size());
  r.base = summarize_nll(base_nll_);
  r.model = summarize_nll(model_nll_);
  std::vector<double> diff(kl_.size());
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = model_nll_[i] - base_nll_[i];
  const moments d = mean_sd(diff);
  r.mean_ln_ratio = d.mean;
  r.mean_ln_ratio_error = d.sd / std::sqrt(n);
  r.ppl_ratio = std::exp(d.mean);
  r.ppl_ratio_error = r.ppl_ratio * r.mean_ln_ratio_error;
  double cov = 0, vb = 0, vm = 0;
  for (size_t i = 0; i < kl_.size(); ++i) {
    const double b = base_nll_[i] - r.base.mean_nll, q = model_nll_[i] - r.model.mean_nll;
    cov += b * q;
    vb += b * b;
    vm += q * q;
  }
  r.ln_ppl_correlation = vb > 0 && vm > 0 ? cov / std::sqrt(vb * vm) : 1;
  const moments k = mean_sd(kl_);
  r.kl_mean = k.mean;
  r.kl_error = k.sd / std::sqrt(n);
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  r.kl_max = sorted.back();
  r.kl_p999 = percentile(sorted, 0.999);
  r.kl_p99 = percentile(sorted, 0.99);
  r.kl_p90 = percentile(sorted, 0.90);
  r.kl_median = percentile(sorted, 0.5);
  r.kl_min = sorted.front();
  double ss = 0;
  for (double x : delta_p_) ss += x * x;
  r.rms_delta_p = std::sqrt(ss / n);
  r.same_top = double(same_top_) / n;
  r.same_top_error = kl_.size() > 1 ? std::sqrt(r.same_top * (1 - r.same_top) / (n - 1)) : 0;
  return r;
}

kl_result evaluate_kl_divergence(model& m, std::span<const int32_t> tokens, std::optional<int32_t> bos_id,
                                 const std::filesystem::path& base_path,
                                 const std::function<void(const chunk_progress&)>& on_chunk) {
  logprob_reader base(base_path);
  const logprob_header& h = base.header();
  const std::string where = base_path.string();
  if (h.vocab != m.info().vocab_size)
    fail(where, "base model's vocabulary has " + std::to_string(h.vocab) + " tokens, this model's " +
                    std::to_string(m.info().vocab_size),
         "compare two versions of the same model (the same tokenizer)");
  if (!std::equal(tokens.begin(), tokens.end(), h.tokens.begin(), h.tokens.end())) {
    size_t at = 0;
    while (at < tokens.size() && at < h.tokens.size() && tokens[at] == h.tokens[at]) ++at;
    fail(where, "the text tokenizes differently: the base run had " + std::to_string(h.tokens.size()) +
                    " token ids, this one " + std::to_string(tokens.size()) + ", first difference at " +
                    std::to_string(at),
         "both models need the same tokenizer, and the same text file");
  }
  if (h.bos_id != bos_id)
    fail(where, "the base run's BOS (" + std::to_string(h.bos_id.value_or(-1)) + ") differs from this model's (" +
                    std::to_string(bos_id.value_or(-1)) + ")",
         "both models need the same tokenizer");
  perplexity_options options;
  options.n_ctx = h.n_ctx;
  options.max_chunks = h.chunks;
  options.bos_id = h.bos_id;
  kl_accumulator acc;
  std::vector<float> base_row(size_t(h.vocab));
  perplexity_result run = evaluate_perplexity(
      m, tokens, options,
      [&](const scored_token& t) {
        base.read_row(base_row);
        acc.add(base_row, t.log_probs, t.target);
      },
      on_chunk);
  kl_result r = acc.result();
  r.base.n_ctx = r.model.n_ctx = run.n_ctx;
  r.base.chunks = r.model.chunks = run.chunks;
  return r;
}

}  // namespace owl
