// model_loader.cpp — owl::model::load: a Hugging Face folder in, a ready decoder out.
#include <filesystem>

#include "arch/decoder.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/json_fields.h"
#include "owl/tokenizer.h"
#include "owl/error.h"

namespace owl {
namespace {

constexpr size_t max_config_bytes = 16 << 20;

class decoder_model final : public model {
 public:
  explicit decoder_model(std::shared_ptr<decoder_model_state> state) : state_(std::move(state)) {}
  const model_info& info() const override { return state_->info; }
  const generation_defaults& defaults() const override { return state_->defaults; }
  std::unique_ptr<session> new_session(int64_t max_tokens) override {
    const int64_t context = state_->config.max_positions;
    if (max_tokens < 0 || max_tokens > context)
      fail("session", "asked for " + std::to_string(max_tokens) + " tokens, but the model's context is " +
                          std::to_string(context) + " tokens");
    return std::make_unique<decoder_session>(state_, max_tokens == 0 ? context : max_tokens);
  }
  std::vector<std::span<const float>> forward_batch(std::span<const batch_item> items) override {
    for (const batch_item& item : items) {
      auto* s = dynamic_cast<decoder_session*>(item.sequence);
      if (!s || s->model_state() != state_.get())
        fail("forward", "a batch item's session belongs to another model", "batch only this model's sessions");
    }
    return decoder_forward_batch(items);
  }

 private:
  std::shared_ptr<decoder_model_state> state_;
};

// generation_config.json: end tokens and sampling defaults, as transformers' generate() reads
// them. Absent file: greedy, with config.json's eos ids.
generation_defaults read_generation_defaults(const nlohmann::json& json, const std::string& source,
                                             const model_config& config) {
  generation_defaults d;
  d.eos_ids = config.eos_ids;
  d.bos_id = config.bos_id;
  d.sampling.temperature = 0;
  if (json.is_null()) return d;
  json_fields g(json, source);
  if (const nlohmann::json* eos = g.find("eos_token_id")) d.eos_ids = parse_token_id_list(*eos, g.where("eos_token_id"));
  if (const nlohmann::json* bos = g.find("bos_token_id")) {
    auto ids = parse_token_id_list(*bos, g.where("bos_token_id"));
    if (!ids.empty()) d.bos_id = ids[0];
  }
  if (g.boolean_or("do_sample", false)) {
    // transformers' GenerationConfig defaults: temperature 1, top_k 50, top_p 1.
    d.sampling.temperature = float(g.number_or("temperature", 1.0));
    d.sampling.top_k = int(g.integer_or("top_k", 50));
    d.sampling.top_p = float(g.number_or("top_p", 1.0));
    d.sampling.min_p = float(g.number_or("min_p", 0.0));
  }
  d.sampling.repetition_penalty = float(g.number_or("repetition_penalty", 1.0));
  return d;
}

}  // namespace

std::shared_ptr<model> model::load(const std::filesystem::path& dir, const load_options& options) {
  auto state = std::make_shared<decoder_model_state>();
  if (is_gguf_file(dir)) {
    // A GGUF file: its metadata says what config.json would, its tensors map to the same names.
    gguf_model_source source = read_gguf_model(dir);
    state->config = std::move(source.config);
    state->store = std::move(source.store);
    state->defaults = read_generation_defaults(source.generation_config, dir.string(), state->config);
  } else {
    if (!std::filesystem::is_directory(dir))
      fail(dir.string(), "is not a model folder or GGUF file",
           "pass a Hugging Face model folder holding config.json and *.safetensors, or a .gguf file");
    const auto config_path = dir / "config.json";
    if (!std::filesystem::exists(config_path))
      fail(config_path.string(), "not found", "a Hugging Face model folder has config.json beside its weights");
    state->config = parse_model_config(parse_json(read_text_file(config_path, max_config_bytes), config_path.string()),
                                       config_path.string());
    state->store = weight_store::open_dir(dir);
    const auto generation_path = dir / "generation_config.json";
    nlohmann::json generation;
    if (std::filesystem::exists(generation_path))
      generation = parse_json(read_text_file(generation_path, max_config_bytes), generation_path.string());
    state->defaults = read_generation_defaults(generation, generation_path.string(), state->config);
  }
  const model_config& c = state->config;
  state->weights = bind_weights(*state->store, c);
  state->compute = make_cpu_backend(options.threads);
  if (options.kv_type != dtype::f32 && options.kv_type != dtype::f16)
    fail("load options", "KV cache type " + std::string(dtype_name(options.kv_type)) + " is not supported",
         "use f32 or f16");
  int64_t repacked_bytes = 0;
  if (options.repack_weights) repacked_bytes = adopt_weight_layouts(state->weights, *state->store, *state->compute);
  state->kv_type = options.kv_type;

  model_info& info = state->info;
  info.architecture = std::string(c.arch->hf_name);
  info.dir = dir;
  info.vocab_size = c.vocab_size;
  info.context_length = c.max_positions;
  info.hidden_size = c.hidden_size;
  info.layers = c.layers;
  info.heads = c.heads;
  info.kv_heads = c.kv_heads;
  info.head_dim = c.head_dim;
  info.stored_dtype = state->weights.stored_dtype;
  const model_weights& w = state->weights;
  info.total_parameters = w.total_parameters;
  info.experts = c.moe.experts;
  info.experts_per_token = c.moe.top_k;
  // Per token only top_k of each MoE layer's experts run.
  info.active_parameters = w.total_parameters -
                           (c.moe.experts > 0 ? w.expert_parameters / c.moe.experts * (c.moe.experts - c.moe.top_k) : 0);
  info.weight_bytes = w.stored_bytes;
  info.repacked_bytes = repacked_bytes;
  info.kv_bytes_per_token = c.layers * kv_floats_per_token(c) * int64_t(dtype_size(options.kv_type));
  return std::make_shared<decoder_model>(std::move(state));
}

std::unique_ptr<tokenizer> load_tokenizer(const std::filesystem::path& model) {
  if (is_gguf_file(model)) {
    auto file = gguf_file::open(model);
    const gguf_tokenizer_json json = tokenizer_from_gguf(*file);
    return tokenizer::from_json(json.tokenizer_json, json.tokenizer_config_json, model.string());
  }
  return tokenizer::from_dir(model);
}

}  // namespace owl
