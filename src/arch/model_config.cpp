#include "arch/model_config.h"

#include "io/json_fields.h"
#include "owl/error.h"

namespace owl {
namespace {

// Sizes above these are not real models; they guard arithmetic on untrusted numbers.
constexpr int64_t max_dim = 1 << 20;
constexpr int64_t max_layers = 4096;
constexpr int64_t max_vocab = 1 << 24;
constexpr int64_t max_context = 1 << 24;

rope_config parse_rope(const json_fields& config, int64_t head_dim) {
  rope_config rope;
  rope.theta = config.number_or("rope_theta", 10000.0);
  if (rope.theta <= 1.0) config.fail_field("rope_theta", "expected a base > 1, found " + std::to_string(rope.theta));
  double partial = config.number_or("partial_rotary_factor", 1.0);
  if (partial <= 0 || partial > 1) config.fail_field("partial_rotary_factor", "expected a value in (0, 1]");
  rope.rotary_dim = int64_t(double(head_dim) * partial);
  if (rope.rotary_dim < 2 || rope.rotary_dim % 2) config.fail_field("partial_rotary_factor", "gives an odd rotary dimension");
  rope.original_max_positions = config.integer_or("max_position_embeddings", 0);
  if (!config.has("rope_scaling")) return rope;

  json_fields scaling = config.object("rope_scaling");
  // Hub configs spell the kind "rope_type" (newer) or "type" (older).
  std::string type = scaling.has("rope_type") ? scaling.string("rope_type") : scaling.string_or("type", "default");
  if (type == "default") return rope;
  rope.factor = scaling.number("factor");
  if (rope.factor < 1.0) scaling.fail_field("factor", "expected a scaling factor >= 1, found " + std::to_string(rope.factor));
  if (type == "linear") {
    rope.kind = rope_kind::linear;
  } else if (type == "dynamic") {
    rope.kind = rope_kind::dynamic;
    rope.original_max_positions = scaling.integer_or("original_max_position_embeddings", rope.original_max_positions);
  } else if (type == "llama3") {
    rope.kind = rope_kind::llama3;
    rope.low_freq_factor = scaling.number("low_freq_factor");
    rope.high_freq_factor = scaling.number("high_freq_factor");
    rope.original_max_positions = scaling.integer("original_max_position_embeddings");
    if (rope.high_freq_factor <= rope.low_freq_factor)
      scaling.fail_field("high_freq_factor", "must be greater than low_freq_factor");
  } else {
    scaling.fail_field(scaling.has("rope_type") ? "rope_type" : "type", "unsupported rope scaling '" + type + "'",
                       "owl supports default, linear, dynamic and llama3 for this architecture");
  }
  if (rope.original_max_positions <= 0)
    scaling.fail_field("original_max_position_embeddings", "expected a positive context length");
  return rope;
}

std::vector<int64_t> parse_layer_windows(const json_fields& config, const arch_options& options, int64_t layers) {
  std::vector<int64_t> windows(size_t(layers), 0);
  // transformers 5 writes the per-layer kinds explicitly; they win when present.
  if (const nlohmann::json* types = config.find("layer_types")) {
    if (!types->is_array() || int64_t(types->size()) != layers)
      config.fail_field("layer_types", "expected a list of " + std::to_string(layers) + " layer kinds");
    for (int64_t i = 0; i < layers; ++i) {
      const auto& kind = (*types)[size_t(i)];
      if (kind == "sliding_attention") windows[size_t(i)] = config.positive("sliding_window", max_context);
      else if (kind != "full_attention")
        config.fail_field("layer_types", "unsupported layer kind " + kind.dump(), "expected full_attention or sliding_attention");
    }
    return windows;
  }
  switch (options.sliding_window) {
    case window_rule::none:
      break;
    case window_rule::all_layers:
      if (config.has("sliding_window")) std::fill(windows.begin(), windows.end(), config.positive("sliding_window", max_context));
      break;
    case window_rule::qwen_layers:
      if (config.boolean_or("use_sliding_window", false)) {
        int64_t window = config.positive("sliding_window", max_context);
        int64_t first = config.integer_or("max_window_layers", layers);
        for (int64_t i = std::max<int64_t>(0, first); i < layers; ++i) windows[size_t(i)] = window;
      }
      break;
  }
  return windows;
}

}  // namespace

std::vector<int32_t> parse_token_id_list(const nlohmann::json& value, const std::string& where) {
  std::vector<int32_t> ids;
  auto add = [&](const nlohmann::json& item) {
    if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > INT32_MAX)
      fail(where, "expected a token id (non-negative integer), found " + item.dump());
    ids.push_back(item.get<int32_t>());
  };
  if (value.is_null()) return ids;
  if (value.is_array()) {
    for (const auto& item : value) add(item);
  } else {
    add(value);
  }
  return ids;
}

model_config parse_model_config(const nlohmann::json& json, const std::string& source) {
  json_fields config(json, source);
  model_config c;
  const nlohmann::json* architectures = config.find("architectures");
  if (!architectures || !architectures->is_array() || architectures->empty() || !(*architectures)[0].is_string())
    config.fail_field("architectures", "expected a list naming the model class, e.g. [\"LlamaForCausalLM\"]");
  c.arch = &find_arch((*architectures)[0].get<std::string>(), config.where("architectures"));
  const arch_options& options = c.arch->options;

  c.hidden_size = config.positive("hidden_size", max_dim);
  c.intermediate_size = config.positive("intermediate_size", max_dim);
  c.layers = config.positive("num_hidden_layers", max_layers);
  c.heads = config.positive("num_attention_heads", max_dim);
  c.kv_heads = config.has("num_key_value_heads") ? config.positive("num_key_value_heads", max_dim) : c.heads;
  if (c.heads % c.kv_heads != 0)
    config.fail_field("num_key_value_heads", "must divide num_attention_heads (" + std::to_string(c.heads) +
                                                 "), found " + std::to_string(c.kv_heads));
  if (config.has("head_dim")) {
    c.head_dim = config.positive("head_dim", max_dim);
  } else {
    if (c.hidden_size % c.heads != 0)
      config.fail_field("num_attention_heads", "does not divide hidden_size and no head_dim is given");
    c.head_dim = c.hidden_size / c.heads;
  }
  c.vocab_size = config.positive("vocab_size", max_vocab);
  c.max_positions = config.positive("max_position_embeddings", max_context);
  c.norm_eps = config.number_or("rms_norm_eps", 1e-6);
  if (c.norm_eps < 0) config.fail_field("rms_norm_eps", "must not be negative");

  std::string activation = config.string_or("hidden_act", "silu");
  if (activation != "silu")
    config.fail_field("hidden_act", "unsupported activation '" + activation + "' for " + std::string(c.arch->hf_name),
                      "this architecture uses silu");
  c.rope = parse_rope(config, c.head_dim);
  c.tie_word_embeddings = config.boolean_or("tie_word_embeddings", false);
  bool attention_bias = config.boolean_or("attention_bias", false);
  c.qkv_bias = options.qkv_bias == bias_rule::always ||
               (options.qkv_bias == bias_rule::from_config && attention_bias);
  c.o_bias = options.o_bias_from_config && attention_bias;
  c.mlp_bias = config.boolean_or("mlp_bias", false);
  c.layer_window = parse_layer_windows(config, options, c.layers);

  if (auto bos = config.optional_integer("bos_token_id")) c.bos_id = int32_t(*bos);
  if (const nlohmann::json* eos = config.find("eos_token_id")) c.eos_ids = parse_token_id_list(*eos, config.where("eos_token_id"));
  return c;
}

}  // namespace owl
