// decoder_attention.cpp — the attention blocks of the decoder pass: standard (MHA/GQA/MQA,
// optional q/k norms, sinks, sliding windows) and latent (DeepSeek's MLA, absorbed form).
// Projections run over all stacked rows; cache appends and attention per sequence.
#include <algorithm>
#include <cstring>

#include "arch/decoder_pass.h"

namespace owl {

attention_args decoder_pass::attention_for(int64_t layer, const pass_segment& segment) const {
  attention_args args;
  args.n_tokens = int64_t(segment.tokens.size());
  args.first_position = segment.sequence->n_past_;
  args.n_heads = config_.heads;
  args.sliding_window = config_.layer[size_t(layer)].window;
  args.scale = float(config_.attention_scale);
  args.softcap = float(config_.attn_softcap);
  const auto& sinks = model_.weights.layers[size_t(layer)].attn.sinks;
  args.sinks = sinks.empty() ? nullptr : sinks.data();
  args.kv_type = model_.kv_type;
  return args;
}

void decoder_pass::standard_attention(int64_t layer, const float* in, float* out) {
  const attention_weights& a = model_.weights.layers[size_t(layer)].attn;
  const int64_t n = rows_, head_dim = config_.head_dim, heads = config_.heads, kv_heads = config_.kv_heads;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
  const int rope = config_.layer[size_t(layer)].rope_index;
  ws_.q.resize(size_t(n * q_dim));
  ws_.k.resize(size_t(n * kv_dim));
  ws_.v.resize(ws_.k.size());
  ws_.attn.resize(ws_.q.size());

  compute_.matmul(a.q.w, a.q.bias_or_null(), in, n, ws_.q.data());
  compute_.matmul(a.k.w, a.k.bias_or_null(), in, n, ws_.k.data());
  compute_.matmul(a.v.w, a.v.bias_or_null(), in, n, ws_.v.data());
  if (config_.clip_qkv > 0) {  // OLMo
    for (auto* t : {&ws_.q, &ws_.k, &ws_.v}) compute_.clamp(t->data(), float(config_.clip_qkv), int64_t(t->size()));
  }
  if (a.q_norm.present) {
    // Per head (Qwen3, Gemma 3): rows of head_dim. Whole (OLMo 2): one row per token.
    const bool per_head = config_.arch->options.qk_norm == qk_norm_rule::per_head;
    apply_norm(a.q_norm, ws_.q.data(), per_head ? n * heads : n, per_head ? head_dim : q_dim, ws_.q.data());
    apply_norm(a.k_norm, ws_.k.data(), per_head ? n * kv_heads : n, per_head ? head_dim : kv_dim, ws_.k.data());
  }
  const int64_t rot = config_.ropes[size_t(rope)].rotary_dim;
  const float* cos = ws_.cos[size_t(rope)].data();
  const float* sin = ws_.sin[size_t(rope)].data();
  compute_.rope(ws_.q.data(), n, heads, head_dim, rot, cos, sin);
  compute_.rope(ws_.k.data(), n, kv_heads, head_dim, rot, cos, sin);

  // Per sequence: append its keys and values to its cache, then attend over everything so far.
  for (const pass_segment& s : segments_) {
    const int64_t count = int64_t(s.tokens.size()), past = s.sequence->n_past_;
    auto& k_cache = s.sequence->k_cache_[size_t(layer)];
    auto& v_cache = s.sequence->v_cache_[size_t(layer)];
    s.sequence->store(k_cache, past * kv_dim, ws_.k.data() + s.row0 * kv_dim, count * kv_dim);
    s.sequence->store(v_cache, past * kv_dim, ws_.v.data() + s.row0 * kv_dim, count * kv_dim);

    attention_args args = attention_for(layer, s);
    args.q = ws_.q.data() + s.row0 * q_dim;
    args.k_cache = k_cache.data();
    args.v_cache = v_cache.data();
    args.out = ws_.attn.data() + s.row0 * q_dim;
    args.n_kv_heads = kv_heads;
    args.head_dim = args.v_dim = head_dim;
    args.k_stride = args.v_stride = kv_dim;
    compute_.attention(args);
  }
  compute_.matmul(a.o.w, a.o.bias_or_null(), ws_.attn.data(), n, out);
}

void decoder_pass::latent_attention(int64_t layer, const float* in, float* out) {
  const attention_weights& a = model_.weights.layers[size_t(layer)].attn;
  const mla_config& m = config_.mla;
  const int64_t n = rows_, heads = config_.heads, qk = m.nope_dim + m.rope_dim;
  const int64_t row = m.kv_lora_rank + m.rope_dim;  // one cache row: latent, then shared rope key
  const int rope = config_.layer[size_t(layer)].rope_index;
  const float* cos = ws_.cos[size_t(rope)].data();
  const float* sin = ws_.sin[size_t(rope)].data();

  // Queries: [N, heads, nope + rope], through the low-rank path when the model has one.
  ws_.q.resize(size_t(n * heads * qk));
  if (a.q_a.present()) {
    ws_.q_a.resize(size_t(n * m.q_lora_rank));
    compute_.matmul(a.q_a.w, a.q_a.bias_or_null(), in, n, ws_.q_a.data());
    apply_norm(a.q_a_norm, ws_.q_a.data(), n, m.q_lora_rank, ws_.q_a.data());
    compute_.matmul(a.q_b.w, nullptr, ws_.q_a.data(), n, ws_.q.data());
  } else {
    compute_.matmul(a.q.w, nullptr, in, n, ws_.q.data());
  }
  compute_.rope(ws_.q.data() + m.nope_dim, n, heads, qk, m.rope_dim, cos, sin);

  // Keys/values: the compressed latent (normalized) and one rotated key part shared by heads.
  ws_.kv_a.resize(size_t(n * row));
  compute_.matmul(a.kv_a.w, a.kv_a.bias_or_null(), in, n, ws_.kv_a.data());
  for (int64_t t = 0; t < n; ++t)
    apply_norm(a.kv_a_norm, ws_.kv_a.data() + t * row, 1, m.kv_lora_rank, ws_.kv_a.data() + t * row);
  compute_.rope(ws_.kv_a.data() + m.kv_lora_rank, n, 1, row, m.rope_dim, cos, sin);
  for (const pass_segment& s : segments_)
    s.sequence->store(s.sequence->k_cache_[size_t(layer)], s.sequence->n_past_ * row, ws_.kv_a.data() + s.row0 * row,
                      int64_t(s.tokens.size()) * row);

  // Absorb each head's key up-projection into its query: q_latent = W_uk^T q_nope. Then the
  // score of a cached row is q_latent . latent + q_rope . k_rope, with no expanded keys.
  ws_.latent_q.resize(size_t(n * heads * row));
  ws_.gather_in.resize(size_t(n * std::max(m.nope_dim, m.kv_lora_rank)));
  ws_.gather_out.resize(size_t(n * std::max(m.kv_lora_rank, m.v_dim)));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(ws_.gather_in.data() + t * m.nope_dim, ws_.q.data() + (t * heads + h) * qk,
                  size_t(m.nope_dim) * sizeof(float));
    compute_.matmul(a.k_absorb[size_t(h)], nullptr, ws_.gather_in.data(), n, ws_.gather_out.data());
    for (int64_t t = 0; t < n; ++t) {
      float* dst = ws_.latent_q.data() + (t * heads + h) * row;
      std::memcpy(dst, ws_.gather_out.data() + t * m.kv_lora_rank, size_t(m.kv_lora_rank) * sizeof(float));
      std::memcpy(dst + m.kv_lora_rank, ws_.q.data() + (t * heads + h) * qk + m.nope_dim,
                  size_t(m.rope_dim) * sizeof(float));
    }
  }

  ws_.latent_out.resize(size_t(n * heads * m.kv_lora_rank));
  for (const pass_segment& s : segments_) {
    const std::byte* cache = s.sequence->k_cache_[size_t(layer)].data();
    attention_args args = attention_for(layer, s);
    args.q = ws_.latent_q.data() + s.row0 * heads * row;
    args.k_cache = cache;
    args.v_cache = cache;  // the values are the latent part of the same rows
    args.out = ws_.latent_out.data() + s.row0 * heads * m.kv_lora_rank;
    args.n_kv_heads = 1;
    args.head_dim = row;
    args.v_dim = m.kv_lora_rank;
    args.k_stride = args.v_stride = row;
    compute_.attention(args);
  }

  // Each head's attended latent through its value up-projection: [N, heads, v_dim].
  ws_.attn.resize(size_t(n * heads * m.v_dim));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(ws_.gather_in.data() + t * m.kv_lora_rank, ws_.latent_out.data() + (t * heads + h) * m.kv_lora_rank,
                  size_t(m.kv_lora_rank) * sizeof(float));
    compute_.matmul(a.v_up[size_t(h)], nullptr, ws_.gather_in.data(), n, ws_.gather_out.data());
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(ws_.attn.data() + (t * heads + h) * m.v_dim, ws_.gather_out.data() + t * m.v_dim,
                  size_t(m.v_dim) * sizeof(float));
  }
  compute_.matmul(a.o.w, a.o.bias_or_null(), ws_.attn.data(), n, out);
}

}  // namespace owl
