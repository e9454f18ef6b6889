#include "arch/weights.h"

#include "arch/weight_binder.h"
#include "owl/error.h"

namespace owl {
namespace {

void bind_standard_attention(weight_binder& bind, const model_config& c, int64_t i, attention_weights& a) {
  const tensor_names& names = c.arch->names;
  const arch_options& options = c.arch->options;
  const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
  if (options.fused_qkv == fused_qkv_rule::neox_per_head) {
    // GPT-NeoX stores [heads, (q, k, v), head_dim] rows in one tensor: split it into three.
    if (c.heads != c.kv_heads) fail(c.arch->hf_name.data(), "fused q/k/v needs as many key/value heads as heads");
    linear_weights fused = bind.linear(tensor_name(names.qkv, i), 3 * q_dim, c.hidden_size, c.qkv_bias);
    linear_weights* parts[3] = {&a.q, &a.k, &a.v};
    for (int64_t part = 0; part < 3; ++part) {
      std::vector<int64_t> rows;
      for (int64_t h = 0; h < c.heads; ++h)
        for (int64_t d = 0; d < c.head_dim; ++d) rows.push_back((h * 3 + part) * c.head_dim + d);
      parts[part]->w = bind.gather_rows(fused.w, rows);
      if (!fused.bias.empty())
        for (int64_t r : rows) parts[part]->bias.push_back(fused.bias[size_t(r)]);
    }
  } else {
    a.q = bind.linear(tensor_name(names.q, i), q_dim, c.hidden_size, c.qkv_bias);
    a.k = bind.linear(tensor_name(names.k, i), kv_dim, c.hidden_size, c.qkv_bias);
    a.v = bind.linear(tensor_name(names.v, i), kv_dim, c.hidden_size, c.qkv_bias);
  }
  if (c.rope_interleave) {  // make rotary pairs (i, i + d/2), the layout the kernels use
    const int64_t rot = c.ropes[0].rotary_dim;
    a.q.w = bind.gather_rows(a.q.w, rope_deinterleave_rows(c.heads, c.head_dim, 0, rot));
    a.k.w = bind.gather_rows(a.k.w, rope_deinterleave_rows(c.kv_heads, c.head_dim, 0, rot));
    if (!a.q.bias.empty() || !a.k.bias.empty())
      fail(std::string(c.arch->hf_name), "rope_interleave with q/k biases is not supported");
  }
  a.o = bind.linear(tensor_name(names.o, i), c.hidden_size, q_dim, c.o_bias);
  if (options.qk_norm == qk_norm_rule::per_head) {
    a.q_norm = bind.norm(names.q_norm, i, c.head_dim, options.norm);
    a.k_norm = bind.norm(names.k_norm, i, c.head_dim, options.norm);
  } else if (options.qk_norm == qk_norm_rule::whole) {
    a.q_norm = bind.norm(names.q_norm, i, q_dim, options.norm);
    a.k_norm = bind.norm(names.k_norm, i, kv_dim, options.norm);
  }
  if (options.attention_sinks) a.sinks = bind.vector(tensor_name(names.sinks, i), c.heads);
}

void bind_latent_attention(weight_binder& bind, const model_config& c, int64_t i, attention_weights& a) {
  const tensor_names& names = c.arch->names;
  const mla_config& m = c.mla;
  const int64_t qk = m.nope_dim + m.rope_dim;
  // Rotary dims are permuted once here when the checkpoint interleaves them.
  auto rope_rows = [&](linear_weights& l, int64_t groups, int64_t group, int64_t offset) {
    if (c.rope_interleave) l.w = bind.gather_rows(l.w, rope_deinterleave_rows(groups, group, offset, m.rope_dim));
  };
  if (m.q_lora_rank > 0) {
    a.q_a = bind.linear(tensor_name(names.q_a, i), m.q_lora_rank, c.hidden_size, c.qkv_bias);
    a.q_a_norm = bind.norm(names.q_a_norm, i, m.q_lora_rank, norm_kind::rms);
    a.q_b = bind.linear(tensor_name(names.q_b, i), c.heads * qk, m.q_lora_rank, false);
    rope_rows(a.q_b, c.heads, qk, m.nope_dim);
  } else {
    a.q = bind.linear(tensor_name(names.q, i), c.heads * qk, c.hidden_size, false);
    rope_rows(a.q, c.heads, qk, m.nope_dim);
  }
  a.kv_a = bind.linear(tensor_name(names.kv_a, i), m.kv_lora_rank + m.rope_dim, c.hidden_size, c.qkv_bias);
  rope_rows(a.kv_a, 1, m.kv_lora_rank + m.rope_dim, m.kv_lora_rank);
  a.kv_a_norm = bind.norm(names.kv_a_norm, i, m.kv_lora_rank, norm_kind::rms);
  // kv_b maps the latent to per-head [k_nope (nope), v (v_dim)]. Attention runs in latent
  // space: q_nope is pulled back through each head's k part (absorbed), and the attended
  // latent is pushed through the v part. The k part is transposed once for that — unless the
  // file (GGUF) already holds both parts per head, k transposed: then they are bound in place.
  const std::string kv_b_name = tensor_name(names.kv_b, i);
  if (bind.has(kv_b_name + ".k_absorb.0.weight")) {
    for (int64_t h = 0; h < c.heads; ++h) {
      a.k_absorb.push_back(bind.matrix(kv_b_name + ".k_absorb." + std::to_string(h) + ".weight", m.kv_lora_rank, m.nope_dim));
      a.v_up.push_back(bind.matrix(kv_b_name + ".v_up." + std::to_string(h) + ".weight", m.v_dim, m.kv_lora_rank));
    }
    a.o = bind.linear(tensor_name(names.o, i), c.hidden_size, c.heads * m.v_dim, c.o_bias);
    return;
  }
  const linear_weights kv_b =
      bind.linear(tensor_name(names.kv_b, i), c.heads * (m.nope_dim + m.v_dim), m.kv_lora_rank, false);
  const size_t row_bytes = dtype_row_bytes(kv_b.w.type, m.kv_lora_rank);
  for (int64_t h = 0; h < c.heads; ++h) {
    const std::byte* head = kv_b.w.data + size_t(h * (m.nope_dim + m.v_dim)) * row_bytes;
    std::vector<int64_t> all_columns(size_t(m.kv_lora_rank));
    for (int64_t r = 0; r < m.kv_lora_rank; ++r) all_columns[size_t(r)] = r;
    a.k_absorb.push_back(bind.gather_columns(kv_b.w.type, head, m.nope_dim, m.kv_lora_rank, all_columns));
    a.v_up.push_back(weight_matrix{kv_b.w.type, head + size_t(m.nope_dim) * row_bytes, m.v_dim, m.kv_lora_rank});
  }
  a.o = bind.linear(tensor_name(names.o, i), c.hidden_size, c.heads * m.v_dim, c.o_bias);
}

mlp_weights bind_mlp(weight_binder& bind, const model_config& c, std::string_view gate, std::string_view up,
                     std::string_view down, int64_t i, int64_t expert, int64_t inter, bool bias) {
  mlp_weights m;
  if (c.arch->options.gated_mlp) m.gate = bind.linear(tensor_name(gate, i, expert), inter, c.hidden_size, bias);
  m.up = bind.linear(tensor_name(up, i, expert), inter, c.hidden_size, bias);
  m.down = bind.linear(tensor_name(down, i, expert), c.hidden_size, inter, bias);
  return m;
}

// gpt-oss stores all experts in one tensor each, as [experts, in, out] with gate and up
// interleaved along `out`. Rewrite them once as ordinary [out, in] matrices per expert. A GGUF
// file already holds them split per expert (io/gguf_layout_read.cpp): those are bound in place.
void bind_fused_experts(weight_binder& bind, const model_config& c, int64_t i, moe_weights& moe) {
  const tensor_names& names = c.arch->names;
  const int64_t e_count = c.moe.experts, inter = c.moe.expert_intermediate, hidden = c.hidden_size;
  const std::string gate_up_name = tensor_name(names.fused_gate_up, i), down_name = tensor_name(names.fused_down, i);
  if (bind.has(tensor_name(names.expert_gate, i, 0) + ".weight")) {
    const std::vector<float> down_bias = bind.tensor(down_name + "_bias", {e_count, hidden}).to_f32();
    for (int64_t e = 0; e < e_count; ++e) {
      mlp_weights m;
      m.gate = bind.linear(tensor_name(names.expert_gate, i, e), inter, hidden, true);
      m.up = bind.linear(tensor_name(names.expert_up, i, e), inter, hidden, true);
      m.down.w = bind.matrix(tensor_name(names.expert_down, i, e) + ".weight", hidden, inter);
      m.down.bias.assign(down_bias.begin() + e * hidden, down_bias.begin() + (e + 1) * hidden);
      moe.experts.push_back(std::move(m));
    }
    return;
  }
  const tensor_view& gate_up = bind.tensor(gate_up_name, {e_count, hidden, 2 * inter});
  const std::vector<float> gate_up_bias = bind.tensor(gate_up_name + "_bias", {e_count, 2 * inter}).to_f32();
  const tensor_view& down = bind.tensor(down_name, {e_count, inter, hidden});
  const std::vector<float> down_bias = bind.tensor(down_name + "_bias", {e_count, hidden}).to_f32();
  std::vector<int64_t> even, odd, all_hidden;
  for (int64_t j = 0; j < inter; ++j) {
    even.push_back(2 * j);
    odd.push_back(2 * j + 1);
  }
  for (int64_t j = 0; j < hidden; ++j) all_hidden.push_back(j);
  const size_t element = dtype_size(gate_up.type);
  for (int64_t e = 0; e < e_count; ++e) {
    mlp_weights m;
    const std::byte* gu = gate_up.data + size_t(e * hidden * 2 * inter) * element;
    m.gate.w = bind.gather_columns(gate_up.type, gu, hidden, 2 * inter, even);
    m.up.w = bind.gather_columns(gate_up.type, gu, hidden, 2 * inter, odd);
    for (int64_t j = 0; j < inter; ++j) {
      m.gate.bias.push_back(gate_up_bias[size_t(e * 2 * inter + 2 * j)]);
      m.up.bias.push_back(gate_up_bias[size_t(e * 2 * inter + 2 * j + 1)]);
    }
    m.down.w = bind.gather_columns(down.type, down.data + size_t(e * inter * hidden) * element, inter, hidden, all_hidden);
    m.down.bias.assign(down_bias.begin() + e * hidden, down_bias.begin() + (e + 1) * hidden);
    moe.experts.push_back(std::move(m));
  }
}

void bind_moe(weight_binder& bind, const model_config& c, int64_t i, moe_weights& moe) {
  const tensor_names& names = c.arch->names;
  const moe_config& m = c.moe;
  moe.router = bind.linear(tensor_name(names.router, i), m.experts, c.hidden_size, m.router_bias);
  if (m.correction_bias) moe.correction_bias = bind.vector(tensor_name(names.router_bias, i), m.experts);
  if (c.arch->options.mlp == mlp_rule::gpt_oss) {
    bind_fused_experts(bind, c, i, moe);
  } else {
    for (int64_t e = 0; e < m.experts; ++e)
      moe.experts.push_back(bind_mlp(bind, c, names.expert_gate, names.expert_up, names.expert_down, i, e,
                                     m.expert_intermediate, m.expert_bias));
  }
  if (m.shared_intermediate > 0)
    moe.shared = bind_mlp(bind, c, names.shared_gate, names.shared_up, names.shared_down, i, -1, m.shared_intermediate,
                          false);
}

int64_t matrix_parameters(const linear_weights& l) { return l.w.rows * l.w.cols + int64_t(l.bias.size()); }

}  // namespace

model_weights bind_weights(const weight_store& store, const model_config& c) {
  const tensor_names& names = c.arch->names;
  const arch_options& options = c.arch->options;
  model_weights w;
  weight_binder bind(store, w);

  w.embed = bind.matrix(std::string(names.embed) + ".weight", c.vocab_size, c.hidden_size);
  w.stored_dtype = std::string(dtype_name(w.embed.type));
  w.final_norm = bind.norm(names.final_norm, 0, c.hidden_size, options.norm);
  const std::string lm_head_name = std::string(names.lm_head) + ".weight";
  if (c.tie_word_embeddings) {
    w.lm_head.w = w.embed;
    // Some tied checkpoints still carry a copy of lm_head; it must equal the embedding's shape.
    if (bind.has(lm_head_name)) bind.matrix(lm_head_name, c.vocab_size, c.hidden_size);
  } else {
    w.lm_head.w = bind.matrix(lm_head_name, c.vocab_size, c.hidden_size);
  }

  for (int64_t i = 0; i < c.layers; ++i) {
    layer_weights l;
    l.attn_pre_norm = bind.norm(names.attn_pre_norm, i, c.hidden_size, options.norm);
    l.attn_post_norm = bind.norm(names.attn_post_norm, i, c.hidden_size, options.norm);
    l.ffn_pre_norm = bind.norm(names.ffn_pre_norm, i, c.hidden_size, options.norm);
    l.ffn_post_norm = bind.norm(names.ffn_post_norm, i, c.hidden_size, options.norm);
    if (options.attention == attention_kind::latent) bind_latent_attention(bind, c, i, l.attn);
    else bind_standard_attention(bind, c, i, l.attn);
    if (c.layer[size_t(i)].moe) {
      bind_moe(bind, c, i, l.moe);
      for (const mlp_weights& e : l.moe.experts)
        w.expert_parameters += matrix_parameters(e.gate) + matrix_parameters(e.up) + matrix_parameters(e.down);
    } else {
      l.mlp = bind_mlp(bind, c, names.gate, names.up, names.down, i, -1, c.intermediate_size, c.mlp_bias);
    }
    w.layers.push_back(std::move(l));
  }
  bind.reject_unused(std::string(c.arch->hf_name));
  for (const std::string& name : store.names()) {
    const tensor_view& t = store.get(name);
    w.total_parameters += t.numel();
    w.stored_bytes += int64_t(t.nbytes);
  }
  return w;
}

}  // namespace owl
