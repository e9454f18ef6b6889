// owl perplexity: a model's perplexity on a text file, and the KL divergence of a (quantized)
// model from saved base log-probabilities, in the manner of llama.cpp's llama-perplexity.
// The conventions (chunks, BOS, second-half scoring) and the file format are in
// include/owl/perplexity.h.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/error.h"
#include "owl/model.h"
#include "owl/perplexity.h"
#include "owl/tokenizer.h"

namespace owl::cli {
namespace {

struct perplexity_cli_options {
  std::string model_dir;
  std::string text_file;
  int64_t ctx = 0;  // 0: 512, capped at the model's context
  int64_t chunks = 0;
  int threads = 0;
  bool json = false;
  std::string save_logits;
  std::string kl_base;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot read the text file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void print_progress(const chunk_progress& p) {
  std::fprintf(stderr, "[%lld/%lld] ppl %.4f (%.2f s)\n", static_cast<long long>(p.chunk + 1),
               static_cast<long long>(p.chunks), p.running_ppl, p.seconds);
}

nlohmann::json ppl_json(const perplexity_result& r) {
  return {{"n_ctx", r.n_ctx}, {"chunks", r.chunks}, {"tokens", r.tokens}, {"ppl", r.ppl},
          {"ppl_error", r.ppl_error}, {"mean_nll", r.mean_nll}, {"mean_nll_error", r.nll_error}};
}

void print_kl(const kl_result& r) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.model.ppl, r.model.ppl_error);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r.base.ppl, r.base.ppl_error);
  std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * r.ln_ppl_correlation);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r.mean_ln_ratio, r.mean_ln_ratio_error);
  std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r.ppl_ratio, r.ppl_ratio_error);
  std::printf("\n====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", r.kl_mean, r.kl_error);
  std::printf("Maximum KLD: %10.6f\n", r.kl_max);
  std::printf("99.9%%   KLD: %10.6f\n", r.kl_p999);
  std::printf("99.0%%   KLD: %10.6f\n", r.kl_p99);
  std::printf("90.0%%   KLD: %10.6f\n", r.kl_p90);
  std::printf("Median  KLD: %10.6f\n", r.kl_median);
  std::printf("Minimum KLD: %10.6f\n", r.kl_min);
  std::printf("\n====== Token probability statistics ======\n");
  std::printf("RMS Δp    : %7.3f %%\n", 100 * r.rms_delta_p);
  std::printf("Same top p: %7.3f ± %6.3f %%\n", 100 * r.same_top, 100 * r.same_top_error);
  std::printf("(%lld chunks of %lld tokens, %lld scored tokens)\n", static_cast<long long>(r.model.chunks),
              static_cast<long long>(r.model.n_ctx), static_cast<long long>(r.tokens));
}

void perplexity(const perplexity_cli_options& o, bool ctx_given) {
  auto tok = load_tokenizer(o.model_dir);
  const std::string text = read_text(o.text_file);
  // The text as a prompt would be encoded: with the BOS the tokenizer adds, if any. A model
  // "has a BOS" (it overwrites each chunk's first token) exactly when the tokenizer adds one.
  const std::vector<int32_t> tokens = tok->encode(text, true);
  std::optional<int32_t> bos;
  if (tok->bos_id() && !tokens.empty() && tokens[0] == *tok->bos_id()) bos = tok->bos_id();
  auto m = model::load(o.model_dir, load_options{.threads = o.threads});
  const int64_t model_ctx = m->info().context_length;

  if (!o.kl_base.empty()) {
    // The chunking comes from the base file; a different --ctx would compare other positions.
    logprob_reader peek(o.kl_base);
    if (ctx_given && o.ctx != peek.header().n_ctx)
      fail("--ctx " + std::to_string(o.ctx), "the base file was written with --ctx " + std::to_string(peek.header().n_ctx),
           "leave --ctx out with --kl-divergence");
    if (o.chunks > 0 && o.chunks != peek.header().chunks)
      fail("--chunks " + std::to_string(o.chunks), "the base file holds " + std::to_string(peek.header().chunks) + " chunks",
           "leave --chunks out with --kl-divergence");
    const kl_result r = evaluate_kl_divergence(*m, tokens, bos, o.kl_base, print_progress);
    if (o.json) {
      nlohmann::json out = {{"model", o.model_dir}, {"file", o.text_file}, {"base_logits", o.kl_base},
                            {"ppl", ppl_json(r.model)}, {"base_ppl", ppl_json(r.base)},
                            {"ln_ppl_correlation", r.ln_ppl_correlation}, {"mean_ln_ratio", r.mean_ln_ratio},
                            {"mean_ln_ratio_error", r.mean_ln_ratio_error}, {"ppl_ratio", r.ppl_ratio},
                            {"ppl_ratio_error", r.ppl_ratio_error}, {"kl_mean", r.kl_mean}, {"kl_error", r.kl_error},
                            {"kl_max", r.kl_max}, {"kl_p999", r.kl_p999}, {"kl_p99", r.kl_p99}, {"kl_p90", r.kl_p90},
                            {"kl_median", r.kl_median}, {"kl_min", r.kl_min}, {"rms_delta_p", r.rms_delta_p},
                            {"same_top", r.same_top}, {"same_top_error", r.same_top_error}};
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      print_kl(r);
    }
    return;
  }

  perplexity_options options;
  options.n_ctx = ctx_given ? o.ctx : std::min<int64_t>(512, model_ctx);
  if (options.n_ctx > model_ctx)
    fail("--ctx " + std::to_string(options.n_ctx), "exceeds the model's context of " + std::to_string(model_ctx) + " tokens");
  options.max_chunks = o.chunks;
  options.bos_id = bos;
  const perplexity_result r = o.save_logits.empty()
                                  ? evaluate_perplexity(*m, tokens, options, {}, print_progress)
                                  : save_base_logprobs(*m, tokens, options, o.save_logits, print_progress);
  if (o.json) {
    nlohmann::json out = ppl_json(r);
    out["model"] = o.model_dir;
    out["file"] = o.text_file;
    if (!o.save_logits.empty()) out["saved_logits"] = o.save_logits;
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("PPL = %.4f ± %.4f (%lld chunks of %lld tokens, %lld scored tokens)\n", r.ppl, r.ppl_error,
              static_cast<long long>(r.chunks), static_cast<long long>(r.n_ctx), static_cast<long long>(r.tokens));
  if (!o.save_logits.empty()) std::printf("base log-probabilities written to %s\n", o.save_logits.c_str());
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto options = std::make_shared<perplexity_cli_options>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity", "Perplexity on a text file; with --kl-divergence, what a quantization costs (like llama-perplexity)");
  cmd->add_option("model", options->model_dir, "Model folder or GGUF file")->required();
  cmd->add_option("file", options->text_file, "Text file to evaluate")->required();
  CLI::Option* ctx = cmd->add_option("-c,--ctx", options->ctx, "Tokens per chunk (default 512, at most the model's context)")
                         ->check(CLI::Range(int64_t(3), int64_t(1) << 30));
  cmd->add_option("--chunks", options->chunks, "Evaluate at most this many chunks (default: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", options->json, "Print the figures as JSON");
  CLI::Option* save = cmd->add_option("--save-logits", options->save_logits,
                                      "Write every scored position's log-softmax (float32) to this file, for --kl-divergence");
  CLI::Option* kl = cmd->add_option("--kl-divergence", options->kl_base,
                                    "Compare with base log-probabilities from --save-logits: KL divergence, PPL ratio, same top token");
  save->excludes(kl);
  cmd->callback([options, ctx] { perplexity(*options, ctx->count() > 0); });
}

}  // namespace owl::cli
