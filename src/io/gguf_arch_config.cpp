// Model metadata in GGUF: config.json -> llama.cpp keys (plus owl.* keys where llama.cpp has
// none or hard-codes the value), and back. Missing owl.* keys default to what llama.cpp does, so
// files written by llama.cpp read as llama.cpp runs them.
#include <cmath>
#include <cstring>
#include <set>

#include "arch/model_config.h"
#include "arch/rope.h"
#include "io/gguf.h"
#include "io/gguf_arch_map.h"
#include "io/json_fields.h"
#include "owl/error.h"

namespace owl {
namespace {

void write_windows(const model_config& c, gguf_writer& w, const std::string& p, const std::string& where) {
  std::set<int64_t> sizes;
  bool all = true;
  for (const layer_config& l : c.layer) {
    if (l.window > 0) sizes.insert(l.window);
    all = all && l.window > 0;
  }
  if (sizes.empty()) return;
  if (sizes.size() > 1) fail(where, "layers with different sliding window sizes cannot be written to GGUF");
  w.set(p + "attention.sliding_window", uint32_t(*sizes.begin()));
  if (all && p == "llama.") return;  // every layer slides: the Mistral reading of the key
  // Which layers slide, as llama.cpp's sliding_window_pattern array (true = sliding).
  std::vector<bool> pattern;
  for (const layer_config& l : c.layer) pattern.push_back(l.window > 0);
  w.set(p + "attention.sliding_window_pattern", gguf_value::make_array(pattern));
}

void write_rope_scaling(const nlohmann::json& raw, const model_config& c, gguf_writer& w, const std::string& p,
                        const std::string& where) {
  if (!raw.contains("rope_scaling") || raw["rope_scaling"].is_null()) return;
  const rope_config& rope = c.ropes[0];
  if (rope.kind == rope_kind::standard) return;
  // owl reads its exact parameters back; llama.cpp reads the keys below (or, for Llama 3.1,
  // the per-frequency factors as rope_freqs).
  w.set("owl.rope_scaling", raw["rope_scaling"].dump());
  if (rope.kind == rope_kind::linear) {
    w.set(p + "rope.scaling.type", std::string("linear"));
    w.set(p + "rope.scaling.factor", float(rope.factor));
  } else if (rope.kind == rope_kind::yarn) {
    w.set(p + "rope.scaling.type", std::string("yarn"));
    w.set(p + "rope.scaling.factor", float(rope.factor));
    w.set(p + "rope.scaling.original_context_length", uint32_t(rope.original_max_positions));
    w.set(p + "rope.scaling.yarn_beta_fast", float(rope.beta_fast));
    w.set(p + "rope.scaling.yarn_beta_slow", float(rope.beta_slow));
    if (p == "deepseek2.") {  // llama.cpp's DeepSeek convention: 0.1 * mscale_all_dim
      const auto& s = raw["rope_scaling"];
      if (s.contains("mscale_all_dim") && s["mscale_all_dim"].is_number())
        w.set(p + "rope.scaling.yarn_log_multiplier", float(0.1 * s["mscale_all_dim"].get<double>()));
    }
  } else if (rope.kind != rope_kind::llama3) {  // llama3 factors are written as rope_freqs.weight
    fail(where + ": field 'rope_scaling'", "this rope scaling cannot be written to GGUF yet");
  }
}

void write_moe(const gguf_arch& arch, const model_config& c, gguf_writer& w, const std::string& p, const std::string& where) {
  const moe_config& m = c.moe;
  if (m.experts == 0) return;
  w.set(p + "expert_count", uint32_t(m.experts));
  w.set(p + "expert_used_count", uint32_t(m.top_k));
  if (arch.hf_name != "MixtralForCausalLM") w.set(p + "expert_feed_forward_length", uint32_t(m.expert_intermediate));
  // llama.cpp knows a leading run of dense layers (DeepSeek) and nothing else.
  int64_t dense = 0;
  while (dense < c.layers && !c.layer[size_t(dense)].moe) ++dense;
  for (int64_t i = dense; i < c.layers; ++i)
    if (!c.layer[size_t(i)].moe) fail(where, "dense layers between MoE layers cannot be written to GGUF");
  if (arch.family == gguf_family::deepseek2) {
    w.set(p + "leading_dense_block_count", uint32_t(dense));
  } else if (dense > 0) {
    fail(where, "dense layers in a " + std::string(arch.hf_name) + " cannot be written to GGUF");
  }
  if (arch.hf_name == "Qwen3MoeForCausalLM") w.set(p + "expert_weights_norm", m.normalize_top_k);
  if (arch.family != gguf_family::deepseek2) return;
  w.set(p + "expert_shared_count", uint32_t(m.expert_intermediate ? m.shared_intermediate / m.expert_intermediate : 0));
  w.set(p + "expert_weights_scale", float(m.scaling));
  w.set(p + "expert_weights_norm", m.normalize_top_k);
  // The gating function implies the selection: sigmoid with the correction bias (noaux_tc), or
  // softmax without it; other pairings have no llama.cpp form.
  if ((m.scoring == router_scoring::sigmoid) != m.correction_bias)
    fail(where, "this DeepSeek routing (scoring_func/topk_method) cannot be written to GGUF");
  w.set(p + "expert_gating_func", uint32_t(m.scoring == router_scoring::sigmoid ? 2 : 1));
  w.set(p + "expert_group_count", uint32_t(m.groups));
  w.set(p + "expert_group_used_count", uint32_t(m.top_groups));
}

// An owl.* number: written where llama.cpp has no key.
std::optional<double> raw_number(const nlohmann::json& raw, const char* key) {
  if (raw.contains(key) && raw[key].is_number()) return raw[key].get<double>();
  return std::nullopt;
}

}  // namespace

void write_gguf_model_metadata(const gguf_arch& arch, const nlohmann::json& raw, const model_config& c,
                               gguf_writer& w, const std::string& where) {
  const std::string p = std::string(arch.gguf_name) + ".";
  const bool mla = arch.family == gguf_family::deepseek2;
  if (arch.interleaved_qk && c.ropes[0].rotary_dim != c.head_dim)
    fail(where, "partial rotary dims cannot be written in llama.cpp's Llama layout");
  // DeepSeek's checkpoints already hold interleaved rotary rows, which is what llama.cpp runs.
  if (mla && !c.rope_interleave) fail(where + ": field 'rope_interleave'", "llama.cpp's deepseek2 expects true");
  w.set("general.architecture", std::string(arch.gguf_name));
  w.set(p + "context_length", uint32_t(c.max_positions));
  w.set(p + "embedding_length", uint32_t(c.hidden_size));
  w.set(p + "feed_forward_length", uint32_t(c.intermediate_size));
  w.set(p + "block_count", uint32_t(c.layers));
  w.set(p + "attention.head_count", uint32_t(c.heads));
  // llama.cpp runs MLA as one shared latent key/value head (MQA).
  w.set(p + "attention.head_count_kv", uint32_t(mla ? 1 : c.kv_heads));
  w.set(p + (arch.layer_norm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"), float(c.norm_eps));
  w.set(p + "rope.freq_base", float(c.ropes[0].theta));
  w.set(p + "rope.dimension_count", uint32_t(c.ropes[0].rotary_dim));
  w.set(p + "vocab_size", uint32_t(c.vocab_size));
  if (mla) {
    if (c.mla.q_lora_rank > 0) w.set(p + "attention.q_lora_rank", uint32_t(c.mla.q_lora_rank));
    w.set(p + "attention.kv_lora_rank", uint32_t(c.mla.kv_lora_rank));
    w.set(p + "attention.key_length", uint32_t(c.mla.kv_lora_rank + c.mla.rope_dim));
    w.set(p + "attention.value_length", uint32_t(c.mla.kv_lora_rank));
    w.set(p + "attention.key_length_mla", uint32_t(c.head_dim));
    w.set(p + "attention.value_length_mla", uint32_t(c.mla.v_dim));
  } else if (c.head_dim * c.heads != c.hidden_size || arch.hf_name == "Gemma3ForCausalLM") {
    w.set(p + "attention.key_length", uint32_t(c.head_dim));
    w.set(p + "attention.value_length", uint32_t(c.head_dim));
  }
  if (arch.family == gguf_family::gpt_neox) w.set(p + "use_parallel_residual", c.parallel_residual);
  if (c.clip_qkv > 0) w.set(p + "attention.clamp_kqv", float(c.clip_qkv));
  if (c.final_softcap > 0) w.set(p + "final_logit_softcapping", float(c.final_softcap));
  if (c.attn_softcap > 0) w.set(p + "attn_logit_softcapping", float(c.attn_softcap));
  if (c.ropes.size() > 1) w.set(p + "rope.freq_base_swa", float(c.ropes[1].theta));
  // llama.cpp hard-codes Gemma 3's query scale; owl keeps the config's.
  if (auto scalar = raw_number(raw, "query_pre_attn_scalar")) w.set("owl.query_pre_attn_scalar", float(*scalar));
  if (arch.family == gguf_family::gpt_oss) w.set("owl.swiglu_limit", float(c.activation.limit));
  write_windows(c, w, p, where);
  write_rope_scaling(raw, c, w, p, where);
  write_moe(arch, c, w, p, where);
}

namespace {

// Typed reads with the file and key in every error.
struct key_reader {
  const gguf_metadata_reader& meta;
  std::string p;
  std::optional<double> number(const std::string& key) const {
    const gguf_value* v = meta.find(key);
    if (!v) return std::nullopt;
    auto d = v->as_f64();
    if (!d || !std::isfinite(*d)) fail(meta.where(key), "expected a finite number");
    return d;
  }
  std::optional<uint64_t> count(const std::string& key) const { return meta.find_u64(key); }
  uint64_t positive(const std::string& key) const {
    const uint64_t v = meta.get_u64(key);
    if (v == 0 || v > (uint64_t(1) << 31)) fail(meta.where(key), "expected a positive count, found " + std::to_string(v));
    return v;
  }
};

void read_windows(const key_reader& k, nlohmann::json& config, int64_t layers) {
  const auto window = k.count(k.p + "attention.sliding_window");
  if (!window) return;
  config["sliding_window"] = *window;
  const gguf_array* pattern = k.meta.find_array(k.p + "attention.sliding_window_pattern");
  if (!pattern) return;  // the family's own rule (every layer, Gemma's 5:1, gpt-oss alternating)
  if (pattern->type != gguf_value_type::boolean || int64_t(pattern->items.size()) != layers)
    fail(k.meta.where(k.p + "attention.sliding_window_pattern"),
         "expected " + std::to_string(layers) + " booleans (one per layer, true = sliding)");
  nlohmann::json types = nlohmann::json::array();
  for (const gguf_value& v : pattern->items) types.push_back(*v.get_if<bool>() ? "sliding_attention" : "full_attention");
  config["layer_types"] = types;
}

void read_rope_scaling(const key_reader& k, nlohmann::json& config) {
  const std::string& p = k.p;
  if (const std::string* scaling = k.meta.find_string("owl.rope_scaling")) {
    config["rope_scaling"] = parse_json(*scaling, k.meta.where("owl.rope_scaling"));
    return;
  }
  const std::string* type = k.meta.find_string(p + "rope.scaling.type");
  if (type && *type == "linear") {
    config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", k.number(p + "rope.scaling.factor").value_or(1.0)}};
  } else if (type && *type == "yarn") {
    nlohmann::json s = {{"rope_type", "yarn"},
                        {"factor", k.number(p + "rope.scaling.factor").value_or(1.0)},
                        {"beta_fast", k.number(p + "rope.scaling.yarn_beta_fast").value_or(32.0)},
                        {"beta_slow", k.number(p + "rope.scaling.yarn_beta_slow").value_or(1.0)}};
    if (auto ctx = k.count(p + "rope.scaling.original_context_length")) s["original_max_position_embeddings"] = *ctx;
    if (auto mul = k.number(p + "rope.scaling.yarn_log_multiplier"); mul && p == "deepseek2.")
      s["mscale"] = s["mscale_all_dim"] = *mul / 0.1;
    if (p == "gpt-oss.") s["truncate"] = false;  // gpt-oss's YaRN keeps the fractional range
    config["rope_scaling"] = s;
  } else if (type && *type != "none") {
    fail(k.meta.where(p + "rope.scaling.type"), "unsupported rope scaling '" + *type + "' in GGUF", "owl reads linear and yarn");
  }
  // Llama 3.1's scaling comes as per-pair factors (rope_freqs.weight), not keys: read_gguf_model
  // puts them into the parsed config.
}

void read_moe(const gguf_arch& arch, const key_reader& k, nlohmann::json& config) {
  const std::string& p = k.p;
  const auto experts = k.count(p + "expert_count");
  if (!experts) return;
  config["num_experts_per_tok"] = k.positive(p + "expert_used_count");
  const auto expert_ff = k.count(p + "expert_feed_forward_length");
  if (arch.hf_name == "MixtralForCausalLM" || arch.family == gguf_family::gpt_oss) {
    config["num_local_experts"] = *experts;
    if (expert_ff) config["intermediate_size"] = *expert_ff;
  } else if (arch.hf_name == "Qwen3MoeForCausalLM") {
    config["num_experts"] = *experts;
    config["moe_intermediate_size"] = k.positive(p + "expert_feed_forward_length");
    // llama.cpp always renormalizes Qwen3-MoE's chosen weights.
    config["norm_topk_prob"] = k.meta.find_bool(p + "expert_weights_norm").value_or(true);
  } else if (arch.family == gguf_family::deepseek2) {
    config["n_routed_experts"] = *experts;
    const uint64_t ff = k.positive(p + "expert_feed_forward_length");
    config["moe_intermediate_size"] = ff;
    config["n_shared_experts"] = k.count(p + "expert_shared_count").value_or(0);
    config["first_k_dense_replace"] = k.count(p + "leading_dense_block_count").value_or(0);
    config["routed_scaling_factor"] = k.number(p + "expert_weights_scale").value_or(1.0);
    config["norm_topk_prob"] = k.meta.find_bool(p + "expert_weights_norm").value_or(false);
    const uint64_t gating = k.count(p + "expert_gating_func").value_or(1);
    if (gating != 1 && gating != 2)
      fail(k.meta.where(p + "expert_gating_func"), "unsupported gating function " + std::to_string(gating),
           "owl reads 1 (softmax) and 2 (sigmoid)");
    const uint64_t groups = k.count(p + "expert_group_count").value_or(1);
    config["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
    config["topk_method"] = gating == 2 ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy";
    config["n_group"] = groups;
    config["topk_group"] = k.count(p + "expert_group_used_count").value_or(groups);
  } else {
    fail(k.meta.where(p + "expert_count"), "experts in a " + std::string(arch.gguf_name) + " model");
  }
}

}  // namespace

nlohmann::json read_gguf_model_config(const gguf_arch& arch, const gguf_file& file) {
  const gguf_metadata_reader& meta = file.reader();
  const key_reader k{meta, std::string(arch.gguf_name) + "."};
  const std::string& p = k.p;
  const bool mla = arch.family == gguf_family::deepseek2;
  nlohmann::json config;
  config["architectures"] = {std::string(arch.hf_name)};
  const uint64_t hidden = k.positive(p + "embedding_length"), heads = k.positive(p + "attention.head_count");
  const uint64_t layers = k.positive(p + "block_count");
  config["hidden_size"] = hidden;
  config["intermediate_size"] = k.positive(p + "feed_forward_length");
  config["num_hidden_layers"] = layers;
  config["num_attention_heads"] = heads;
  config["num_key_value_heads"] = mla ? heads : meta.find_u64(p + "attention.head_count_kv").value_or(heads);
  config["max_position_embeddings"] = k.positive(p + "context_length");
  const gguf_array* tokens = meta.find_array("tokenizer.ggml.tokens");
  config["vocab_size"] = meta.find_u64(p + "vocab_size").value_or(tokens ? tokens->items.size() : 0);
  config["tie_word_embeddings"] = file.find_tensor("output.weight") == nullptr;
  if (arch.layer_norm) {
    const auto eps = k.number(p + "attention.layer_norm_epsilon");
    if (eps) config[arch.family == gguf_family::gpt_neox ? "layer_norm_eps" : "norm_eps"] = *eps;
  } else if (auto eps = k.number(p + "attention.layer_norm_rms_epsilon")) {
    config["rms_norm_eps"] = *eps;
  }
  if (auto theta = k.number(p + "rope.freq_base")) config["rope_theta"] = *theta;

  uint64_t head_dim = hidden / heads;
  if (mla) {
    const uint64_t rope_dim = k.positive(p + "rope.dimension_count"), qk = k.positive(p + "attention.key_length_mla");
    if (qk <= rope_dim) fail(meta.where(p + "attention.key_length_mla"), "must exceed rope.dimension_count");
    if (auto q_lora = k.count(p + "attention.q_lora_rank")) config["q_lora_rank"] = *q_lora;
    config["kv_lora_rank"] = k.positive(p + "attention.kv_lora_rank");
    config["qk_rope_head_dim"] = rope_dim;
    config["qk_nope_head_dim"] = qk - rope_dim;
    config["v_head_dim"] = k.positive(p + "attention.value_length_mla");
    config["rope_interleave"] = true;  // llama.cpp's deepseek2 rope is the interleaved one
  } else {
    if (auto key_length = k.count(p + "attention.key_length")) {
      head_dim = *key_length;
      config["head_dim"] = *key_length;
    }
    if (auto rot = k.count(p + "rope.dimension_count"); rot && *rot != head_dim) {
      if (arch.interleaved_qk || *rot == 0 || *rot > head_dim || *rot % 2)
        fail(meta.where(p + "rope.dimension_count"), "unsupported rotary dimension " + std::to_string(*rot) +
                                                         " for heads of " + std::to_string(head_dim));
      // owl multiplies back and truncates: nudge up so that rot/head_dim * head_dim >= rot.
      const double fraction = std::nextafter(double(*rot) / double(head_dim), 2.0);
      config[arch.family == gguf_family::gpt_neox ? "rotary_pct" : "partial_rotary_factor"] = fraction;
    }
    config["rope_interleave"] = arch.interleaved_qk;
  }
  config["attention_bias"] = file.find_tensor("blk.0.attn_q.bias") != nullptr || file.find_tensor("blk.0.attn_qkv.bias") != nullptr;
  config["mlp_bias"] = file.find_tensor("blk.0.ffn_up.bias") != nullptr;
  if (arch.family == gguf_family::gpt_neox)
    config["use_parallel_residual"] = meta.find_bool(p + "use_parallel_residual").value_or(true);
  if (auto clip = k.number(p + "attention.clamp_kqv")) config["clip_qkv"] = *clip;
  if (auto cap = k.number(p + "final_logit_softcapping")) config["final_logit_softcapping"] = *cap;
  if (auto cap = k.number(p + "attn_logit_softcapping")) config["attn_logit_softcapping"] = *cap;
  if (arch.hf_name == "Gemma3ForCausalLM")  // llama.cpp's value when the key is absent
    config["rope_local_base_freq"] = k.number(p + "rope.freq_base_swa").value_or(10000.0);
  if (auto scalar = k.number("owl.query_pre_attn_scalar")) config["query_pre_attn_scalar"] = *scalar;
  if (arch.family == gguf_family::gpt_oss) config["swiglu_limit"] = k.number("owl.swiglu_limit").value_or(7.0);
  read_windows(k, config, int64_t(layers));
  read_rope_scaling(k, config);
  read_moe(arch, k, config);
  if (auto bos = meta.find_u64("tokenizer.ggml.bos_token_id")) config["bos_token_id"] = *bos;
  if (auto eos = meta.find_u64("tokenizer.ggml.eos_token_id")) config["eos_token_id"] = *eos;
  return config;
}

}  // namespace owl
