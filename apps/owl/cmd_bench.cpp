// owl bench: prompt processing (pp) and generation (tg) speed, in the manner of llama-bench.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/model.h"

namespace owl::cli {
namespace {

struct bench_options {
  std::string model_dir;
  int64_t prompt = 512;
  int64_t generate = 128;
  int threads = 0;
  std::string kv_type = "f32";
  int repetitions = 3;
  bool json = false;
  bool no_repack = false;
};

struct stats {
  double median = 0, sd = 0;
};

stats summarize(std::vector<double> values) {
  stats s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  double mean = 0;
  for (double v : values) mean += v / double(n);
  for (double v : values) s.sd += (v - mean) * (v - mean);
  s.sd = n > 1 ? std::sqrt(s.sd / double(n - 1)) : 0;
  return s;
}

void bench(const bench_options& o) {
  using clock = std::chrono::steady_clock;
  auto m = model::load(o.model_dir, load_options{.threads = o.threads,
                                                 .kv_type = o.kv_type == "f16" ? dtype::f16 : dtype::f32,
                                                 .repack_weights = !o.no_repack});
  const model_info& info = m->info();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, int32_t(info.vocab_size - 1));
  const int64_t capacity = std::max<int64_t>(o.prompt, o.generate) + 1;
  auto s = m->new_session(std::min(capacity, info.context_length));

  std::vector<double> pp_rates, tg_rates;
  for (int r = 0; r < o.repetitions; ++r) {
    if (o.prompt > 0) {  // one batch of `prompt` tokens
      std::vector<int32_t> batch(size_t(o.prompt));
      for (auto& t : batch) t = token(rng);
      s->reset();
      const auto start = clock::now();
      s->forward(batch);
      pp_rates.push_back(double(o.prompt) / std::chrono::duration<double>(clock::now() - start).count());
    }
    if (o.generate > 0) {  // `generate` tokens one at a time from an empty cache
      s->reset();
      const auto start = clock::now();
      for (int64_t i = 0; i < o.generate; ++i) {
        const int32_t t = token(rng);
        s->forward(std::span<const int32_t>(&t, 1));
      }
      tg_rates.push_back(double(o.generate) / std::chrono::duration<double>(clock::now() - start).count());
    }
  }
  const int threads = o.threads > 0 ? o.threads : int(std::thread::hardware_concurrency());
  nlohmann::json results = nlohmann::json::array();
  auto add = [&](const std::string& test, const std::vector<double>& rates) {
    if (rates.empty()) return;
    const stats st = summarize(rates);
    results.push_back({{"test", test}, {"threads", threads}, {"tokens_per_s", st.median}, {"sd", st.sd},
                       {"repetitions", rates.size()}, {"model", o.model_dir}, {"dtype", info.stored_dtype},
                       {"parameters", info.total_parameters}, {"weight_bytes", info.weight_bytes}});
  };
  add("pp" + std::to_string(o.prompt), pp_rates);
  add("tg" + std::to_string(o.generate), tg_rates);
  if (o.json) {
    std::printf("%s\n", results.dump(2).c_str());
    return;
  }
  std::printf("| model | dtype | threads | test | t/s |\n|---|---|---|---|---|\n");
  for (const auto& r : results)
    std::printf("| %s | %s | %d | %s | %.2f ± %.2f |\n", o.model_dir.c_str(), info.stored_dtype.c_str(), threads,
                r["test"].get<std::string>().c_str(), r["tokens_per_s"].get<double>(), r["sd"].get<double>());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<bench_options>();
  CLI::App* cmd = app.add_subcommand("bench", "Prompt (pp) and generation (tg) speed, like llama-bench");
  cmd->add_option("model", options->model_dir, "Model folder or GGUF file")->required();
  cmd->add_option("-p,--prompt", options->prompt, "Prompt tokens processed as one batch (0 = skip)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-n,--generate", options->generate, "Tokens generated one at a time (0 = skip)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kv-type", options->kv_type, "KV-cache element type: f32 (exact) or f16 (half the memory)")
      ->check(CLI::IsMember({"f32", "f16"}));
  cmd->add_option("-r,--repetitions", options->repetitions, "Repetitions; the median is reported")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", options->json, "Print a JSON list of {test, threads, tokens_per_s, ...}");
  cmd->add_flag("--no-repack", options->no_repack, "Keep weights in the file's layout and its shared pages (no interleaved rows; for several processes on one file)");
  cmd->callback([options] { bench(*options); });
}

}  // namespace owl::cli
