#include "arch/model_config.h"

#include <algorithm>
#include <cmath>

#include "io/json_fields.h"
#include "owl/error.h"

namespace owl {
namespace {

// Sizes above these are not real models; they guard arithmetic on untrusted numbers.
constexpr int64_t max_dim = 1 << 20;
constexpr int64_t max_layers = 4096;
constexpr int64_t max_vocab = 1 << 24;
constexpr int64_t max_context = 1 << 24;
constexpr int64_t max_experts = 1 << 16;

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

rope_config parse_rope(const json_fields& config, const arch_options& options, int64_t rope_head_dim,
                       int64_t max_positions) {
  rope_config rope;
  rope.theta = config.has(options.rope_theta_key) ? config.number(options.rope_theta_key)
                                                  : config.number_or("rope_theta", 10000.0);
  if (rope.theta <= 1.0) config.fail_field("rope_theta", "expected a base > 1, found " + std::to_string(rope.theta));
  double partial = config.has(options.partial_rotary_key) ? config.number(options.partial_rotary_key)
                                                          : config.number_or("partial_rotary_factor", 1.0);
  if (partial <= 0 || partial > 1) config.fail_field(options.partial_rotary_key, "expected a value in (0, 1]");
  rope.rotary_dim = int64_t(double(rope_head_dim) * partial);
  if (rope.rotary_dim < 2 || rope.rotary_dim % 2)
    config.fail_field(options.partial_rotary_key, "gives an odd or empty rotary dimension");
  rope.original_max_positions = max_positions;
  if (!config.has("rope_scaling")) return rope;

  json_fields scaling = config.object("rope_scaling");
  // Hub configs spell the kind "rope_type" (newer) or "type" (older).
  const std::string type_key = scaling.has("rope_type") ? "rope_type" : "type";
  std::string type = scaling.string_or(type_key, "default");
  if (type == "default") return rope;
  if (scaling.has("factor")) rope.factor = scaling.number("factor");
  if (rope.factor < 1.0) scaling.fail_field("factor", "expected a scaling factor >= 1, found " + std::to_string(rope.factor));
  rope.original_max_positions = scaling.integer_or("original_max_position_embeddings", max_positions);
  if (rope.original_max_positions <= 0)
    scaling.fail_field("original_max_position_embeddings", "expected a positive context length");
  if (type == "linear") {
    rope.kind = rope_kind::linear;
  } else if (type == "dynamic") {
    rope.kind = rope_kind::dynamic;
  } else if (type == "llama3") {
    rope.kind = rope_kind::llama3;
    rope.low_freq_factor = scaling.number("low_freq_factor");
    rope.high_freq_factor = scaling.number("high_freq_factor");
    if (!scaling.has("original_max_position_embeddings")) scaling.integer("original_max_position_embeddings");
    if (rope.high_freq_factor <= rope.low_freq_factor)
      scaling.fail_field("high_freq_factor", "must be greater than low_freq_factor");
  } else if (type == "yarn") {
    rope.kind = rope_kind::yarn;
    if (!scaling.has("factor"))  // DeepSeek style: the ratio of the two context lengths
      rope.factor = double(max_positions) / double(rope.original_max_positions);
    rope.beta_fast = scaling.number_or("beta_fast", 32.0);
    rope.beta_slow = scaling.number_or("beta_slow", 1.0);
    rope.truncate = scaling.boolean_or("truncate", true);
    const double mscale = scaling.number_or("mscale", 0), mscale_all_dim = scaling.number_or("mscale_all_dim", 0);
    if (scaling.has("attention_factor"))
      rope.attention_factor = scaling.number("attention_factor");
    else if (mscale != 0 && mscale_all_dim != 0)
      rope.attention_factor = yarn_mscale(rope.factor, mscale) / yarn_mscale(rope.factor, mscale_all_dim);
    else
      rope.attention_factor = yarn_mscale(rope.factor, 1.0);
  } else {
    scaling.fail_field(type_key, "unsupported rope scaling '" + type + "'",
                       "owl supports default, linear, dynamic, llama3 and yarn");
  }
  return rope;
}

// Which layers slide, and over how many tokens.
void parse_layer_windows(const json_fields& config, const arch_options& options, model_config& c) {
  const int64_t layers = c.layers;
  // transformers 5 writes the per-layer kinds explicitly; they win when present.
  if (const nlohmann::json* types = config.find("layer_types")) {
    if (!types->is_array() || int64_t(types->size()) != layers)
      config.fail_field("layer_types", "expected a list of " + std::to_string(layers) + " layer kinds");
    for (int64_t i = 0; i < layers; ++i) {
      const auto& kind = (*types)[size_t(i)];
      if (kind == "sliding_attention") c.layer[size_t(i)].window = config.positive("sliding_window", max_context);
      else if (kind != "full_attention")
        config.fail_field("layer_types", "unsupported layer kind " + kind.dump(), "expected full_attention or sliding_attention");
    }
    return;
  }
  auto slide = [&](int64_t i) { c.layer[size_t(i)].window = config.positive("sliding_window", max_context); };
  switch (options.sliding_window) {
    case window_rule::none:
      break;
    case window_rule::all_layers:
      if (config.has("sliding_window"))
        for (int64_t i = 0; i < layers; ++i) slide(i);
      break;
    case window_rule::qwen_layers:
      if (config.boolean_or("use_sliding_window", false))
        for (int64_t i = std::max<int64_t>(0, config.integer_or("max_window_layers", layers)); i < layers; ++i) slide(i);
      break;
    case window_rule::gemma_pattern: {
      const int64_t pattern = config.integer_or("sliding_window_pattern", 6);
      if (pattern <= 0) config.fail_field("sliding_window_pattern", "expected a positive layer count");
      for (int64_t i = 0; i < layers; ++i)
        if ((i + 1) % pattern != 0) slide(i);
      break;
    }
    case window_rule::alternating:
      for (int64_t i = 0; i < layers; i += 2) slide(i);
      break;
  }
}

activation_config parse_activation(const json_fields& config, const arch_options& options) {
  const std::string key(options.activation_key);
  const std::string name = config.string_or(key, std::string(options.default_activation));
  activation_config a;
  if (name == "silu" || name == "swish") a.kind = activation_kind::silu;
  else if (name == "gelu") a.kind = activation_kind::gelu;
  else if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") a.kind = activation_kind::gelu_tanh;
  else if (name == "relu2") a.kind = activation_kind::relu2;
  else if (name == "swiglu_oai") a.kind = activation_kind::swiglu_oai;
  else config.fail_field(key, "unsupported activation '" + name + "'", "owl supports silu, gelu, gelu_pytorch_tanh, relu2");
  if (a.kind == activation_kind::swiglu_oai) a.limit = float(config.number_or("swiglu_limit", 7.0));
  return a;
}

// Mixture-of-experts settings and which layers use them.
void parse_moe(const json_fields& config, const arch_options& options, model_config& c) {
  moe_config& m = c.moe;
  auto experts_from = [&](std::string_view key) { m.experts = config.positive(key, max_experts); };
  switch (options.mlp) {
    case mlp_rule::dense:
      return;
    case mlp_rule::mixtral:
      experts_from("num_local_experts");
      m.expert_intermediate = c.intermediate_size;
      m.normalize_top_k = true;
      for (auto& l : c.layer) l.moe = true;
      break;
    case mlp_rule::gpt_oss:
      experts_from("num_local_experts");
      m.expert_intermediate = c.intermediate_size;
      m.normalize_top_k = true;  // softmax over the chosen logits = softmax, top-k, renormalize
      m.router_bias = m.expert_bias = true;
      for (auto& l : c.layer) l.moe = true;
      break;
    case mlp_rule::qwen_moe: {
      experts_from("num_experts");
      m.expert_intermediate = config.positive("moe_intermediate_size", max_dim);
      m.normalize_top_k = config.boolean_or("norm_topk_prob", false);
      const int64_t step = config.integer_or("decoder_sparse_step", 1);
      std::vector<int64_t> dense_layers;
      if (const nlohmann::json* list = config.find("mlp_only_layers")) {
        if (!list->is_array()) config.fail_field("mlp_only_layers", "expected a list of layer indices");
        for (const auto& v : *list) {
          if (!v.is_number_integer()) config.fail_field("mlp_only_layers", "expected a list of layer indices");
          dense_layers.push_back(v.get<int64_t>());
        }
      }
      for (int64_t i = 0; i < c.layers; ++i)
        c.layer[size_t(i)].moe = std::find(dense_layers.begin(), dense_layers.end(), i) == dense_layers.end() &&
                                 step > 0 && (i + 1) % step == 0;
      break;
    }
    case mlp_rule::deepseek: {
      experts_from("n_routed_experts");
      m.expert_intermediate = config.positive("moe_intermediate_size", max_dim);
      m.shared_intermediate = m.expert_intermediate * config.integer_or("n_shared_experts", 0);
      m.normalize_top_k = config.boolean_or("norm_topk_prob", false);
      m.scaling = config.number_or("routed_scaling_factor", 1.0);
      m.groups = config.integer_or("n_group", 1);
      m.top_groups = config.integer_or("topk_group", 1);
      const std::string scoring = config.string_or("scoring_func", std::string(options.default_router_scoring));
      if (scoring == "softmax") m.scoring = router_scoring::softmax;
      else if (scoring == "sigmoid") m.scoring = router_scoring::sigmoid;
      else config.fail_field("scoring_func", "unsupported router scoring '" + scoring + "'", "expected softmax or sigmoid");
      const std::string method = config.string_or("topk_method", scoring == "sigmoid" ? "noaux_tc" : "greedy");
      if (method == "greedy") {
        m.groups = m.top_groups = 1;
      } else if (method == "group_limited_greedy") {
        // groups score by their best expert
      } else if (method == "noaux_tc") {
        m.group_score_top2_sum = true;
        m.correction_bias = true;
      } else {
        config.fail_field("topk_method", "unsupported routing '" + method + "'", "expected greedy, group_limited_greedy or noaux_tc");
      }
      if (m.groups <= 0 || m.experts % m.groups != 0 || m.top_groups <= 0 || m.top_groups > m.groups)
        config.fail_field("n_group", "expected a group count dividing n_routed_experts, with 1 <= topk_group <= n_group");
      const int64_t first_dense = config.integer_or("first_k_dense_replace", 0);
      const int64_t frequency = std::max<int64_t>(1, config.integer_or("moe_layer_freq", 1));
      for (int64_t i = 0; i < c.layers; ++i) c.layer[size_t(i)].moe = i >= first_dense && i % frequency == 0;
      break;
    }
  }
  m.top_k = config.positive("num_experts_per_tok", m.experts);
  if (m.group_score_top2_sum && m.experts / m.groups < 2)
    config.fail_field("n_group", "each group needs at least two experts for noaux_tc routing");
  if (m.top_k > m.experts / m.groups * m.top_groups)
    config.fail_field("num_experts_per_tok", "exceeds the experts the chosen groups hold");
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
  c.layer.resize(size_t(c.layers));
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
  c.norm_eps = options.eps_key.empty() ? 1e-5 : config.number_or(options.eps_key, 1e-6);
  if (c.norm_eps < 0) config.fail_field(options.eps_key, "must not be negative");

  int64_t rope_head_dim = c.head_dim;
  if (options.attention == attention_kind::latent) {
    mla_config& mla = c.mla;
    mla.q_lora_rank = config.has("q_lora_rank") ? config.positive("q_lora_rank", max_dim) : 0;
    mla.kv_lora_rank = config.positive("kv_lora_rank", max_dim);
    mla.nope_dim = config.positive("qk_nope_head_dim", max_dim);
    mla.rope_dim = config.positive("qk_rope_head_dim", max_dim);
    mla.v_dim = config.positive("v_head_dim", max_dim);
    c.head_dim = mla.nope_dim + mla.rope_dim;
    c.kv_heads = c.heads;  // every head has its own (absorbed) key and value
    rope_head_dim = mla.rope_dim;
  }
  c.v_head_dim = options.attention == attention_kind::latent ? c.mla.v_dim : c.head_dim;

  c.activation = parse_activation(config, options);
  c.ropes.push_back(parse_rope(config, options, rope_head_dim, c.max_positions));
  if (options.local_rope_base) {  // Gemma 3: local layers rotate with their own base, unscaled
    rope_config local = c.ropes[0];
    local.kind = rope_kind::standard;
    local.factor = 1.0;
    local.attention_factor = 1.0;
    local.theta = config.number_or("rope_local_base_freq", 10000.0);
    c.ropes.push_back(local);
  }
  c.rope_interleave = config.boolean_or("rope_interleave", options.rope_interleave_default);
  c.parallel_residual = options.parallel_residual && config.boolean_or("use_parallel_residual", true);
  c.tie_word_embeddings = config.boolean_or("tie_word_embeddings", false);
  const bool attention_bias = config.boolean_or("attention_bias", false);
  c.qkv_bias = options.qkv_bias == bias_rule::always || (options.qkv_bias == bias_rule::from_config && attention_bias);
  c.o_bias = options.o_bias_from_config && attention_bias;
  c.mlp_bias = options.mlp_bias == bias_rule::always ||
               (options.mlp_bias == bias_rule::from_config && config.boolean_or("mlp_bias", false));
  c.clip_qkv = config.number_or("clip_qkv", 0.0);
  if (c.clip_qkv < 0) config.fail_field("clip_qkv", "must be positive when set");
  c.attn_softcap = config.number_or("attn_logit_softcapping", 0.0);
  c.final_softcap = config.number_or("final_logit_softcapping", 0.0);
  if (c.attn_softcap < 0 || c.final_softcap < 0) config.fail_field("final_logit_softcapping", "must be positive when set");

  // Softmax scale: 1/sqrt(query_pre_attn_scalar) when given (Gemma), else 1/sqrt(head_dim);
  // YaRN's mscale enlarges it for latent attention (DeepSeek).
  c.attention_scale = 1.0 / std::sqrt(config.has("query_pre_attn_scalar") ? config.number("query_pre_attn_scalar")
                                                                           : double(c.head_dim));
  if (options.attention == attention_kind::latent && c.ropes[0].kind == rope_kind::yarn) {
    const double mscale_all_dim = config.object("rope_scaling").number_or("mscale_all_dim", 0);
    if (mscale_all_dim != 0) {
      const double m = yarn_mscale(c.ropes[0].factor, mscale_all_dim);
      c.attention_scale *= m * m;
    }
  }
  c.embed_scale = options.embed_scale_sqrt_hidden ? std::sqrt(double(c.hidden_size)) : 1.0;

  parse_layer_windows(config, options, c);
  if (options.local_rope_base)
    for (auto& l : c.layer) l.rope_index = l.window > 0 ? 1 : 0;
  parse_moe(config, options, c);

  if (const nlohmann::json* bos = config.find("bos_token_id")) {
    auto ids = parse_token_id_list(*bos, config.where("bos_token_id"));
    if (!ids.empty()) c.bos_id = ids[0];
  }
  if (const nlohmann::json* eos = config.find("eos_token_id")) c.eos_ids = parse_token_id_list(*eos, config.where("eos_token_id"));
  return c;
}

}  // namespace owl
