#include "arch/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "arch/rope.h"
#include "owl/error.h"

namespace owl {
namespace {
// Long prompts run in chunks so activation memory stays bounded by the chunk, not the prompt.
constexpr int64_t max_chunk = 512;
}  // namespace

int64_t kv_floats_per_token(const model_config& c) {
  if (c.arch->options.attention == attention_kind::latent) return c.mla.kv_lora_rank + c.mla.rope_dim;
  return 2 * c.kv_heads * c.head_dim;
}

decoder_session::decoder_session(std::shared_ptr<const decoder_model_state> model, int64_t capacity)
    : model_(std::move(model)), config_(model_->config), compute_(*model_->compute), capacity_(capacity) {
  k_cache_.resize(size_t(config_.layers));
  v_cache_.resize(size_t(config_.layers));
  const bool latent = config_.arch->options.attention == attention_kind::latent;
  for (int64_t l = 0; l < config_.layers; ++l) {
    if (latent) {
      k_cache_[size_t(l)].resize(size_t(capacity_ * kv_floats_per_token(config_)));
    } else {
      k_cache_[size_t(l)].resize(size_t(capacity_ * config_.kv_heads * config_.head_dim));
      v_cache_[size_t(l)].resize(k_cache_[size_t(l)].size());
    }
  }
  cos_.resize(config_.ropes.size());
  sin_.resize(config_.ropes.size());
}

std::span<const float> decoder_session::forward(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = int64_t(tokens.size());
  if (n == 0) fail("forward", "no tokens to run", "pass at least one token");
  if (n_past_ + n > capacity_)
    fail("forward", std::to_string(n_past_) + " tokens in the cache + " + std::to_string(n) +
                        " new ones exceed the session's capacity of " + std::to_string(capacity_),
         "use a shorter prompt or fewer new tokens, or a model with a longer context");
  for (int32_t id : tokens)
    if (id < 0 || id >= config_.vocab_size)
      fail("forward", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(config_.vocab_size) + ")");

  const size_t vocab = size_t(config_.vocab_size);
  logits_.resize((all_logits ? size_t(n) : 1) * vocab);
  for (int64_t begin = 0; begin < n; begin += max_chunk) {
    const int64_t count = std::min(max_chunk, n - begin);
    const bool last_chunk = begin + count == n;
    float* out = all_logits ? logits_.data() + size_t(begin) * vocab : (last_chunk ? logits_.data() : nullptr);
    forward_chunk(tokens.subspan(size_t(begin), size_t(count)), all_logits, out);
  }
  return logits_;
}

void decoder_session::apply_norm(const norm_weights& norm, const float* x, int64_t n, int64_t dim, float* y) {
  const float* w = norm.weight.empty() ? nullptr : norm.weight.data();
  if (norm.layer_norm)
    compute_.layer_norm(x, w, norm.bias.empty() ? nullptr : norm.bias.data(), n, dim, float(config_.norm_eps), y);
  else
    compute_.rms_norm(x, w, n, dim, float(config_.norm_eps), y);
}

void decoder_session::forward_chunk(std::span<const int32_t> tokens, bool all_logits, float* logits) {
  const model_weights& w = model_->weights;
  const int64_t n = int64_t(tokens.size());
  const int64_t hidden = config_.hidden_size;
  x_.resize(size_t(n * hidden));
  normed_.resize(x_.size());
  block_out_.resize(x_.size());

  compute_.embed(w.embed, tokens, x_.data());
  if (config_.embed_scale != 1.0) compute_.scale(x_.data(), float(config_.embed_scale), n * hidden);
  for (size_t r = 0; r < config_.ropes.size(); ++r)
    rope_tables(rope_inv_freq(config_.ropes[r], n_past_ + n), config_.ropes[r].attention_factor, n_past_, n, cos_[r],
                sin_[r]);

  for (int64_t layer = 0; layer < config_.layers; ++layer) run_layer(layer, n);
  n_past_ += n;
  if (!logits) return;

  // Final norm and lm_head only for the rows whose logits are wanted.
  const int64_t rows = all_logits ? n : 1;
  const float* rows_in = x_.data() + size_t((n - rows) * hidden);
  apply_norm(w.final_norm, rows_in, rows, hidden, normed_.data());
  compute_.matmul(w.lm_head.w, w.lm_head.bias_or_null(), normed_.data(), rows, logits);
  if (config_.final_softcap > 0) compute_.softcap(logits, float(config_.final_softcap), rows * config_.vocab_size);
}

void decoder_session::run_layer(int64_t layer, int64_t n) {
  const layer_weights& lw = model_->weights.layers[size_t(layer)];
  const int64_t hidden = config_.hidden_size, count = n * hidden;
  const bool latent = config_.arch->options.attention == attention_kind::latent;
  auto attention = [&](const float* in, float* out) {
    if (latent) latent_attention(layer, n, in, out);
    else standard_attention(layer, n, in, out);
  };
  auto mlp = [&](const float* in, float* out) {
    if (config_.layer[size_t(layer)].moe) moe_mlp(layer, n, in, out);
    else dense_mlp(lw.mlp, n, in, out);
  };
  // A block's input is the normed residual, or the residual itself when it has no pre-norm.
  auto block_input = [&](const norm_weights& pre) -> const float* {
    if (!pre.present) return x_.data();
    apply_norm(pre, x_.data(), n, hidden, normed_.data());
    return normed_.data();
  };

  if (config_.parallel_residual) {  // GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x))
    mlp_out_.resize(size_t(count));
    attention(block_input(lw.attn_pre_norm), block_out_.data());
    mlp(block_input(lw.ffn_pre_norm), mlp_out_.data());
    compute_.add(x_.data(), block_out_.data(), count);
    compute_.add(x_.data(), mlp_out_.data(), count);
    return;
  }
  attention(block_input(lw.attn_pre_norm), block_out_.data());
  if (lw.attn_post_norm.present) apply_norm(lw.attn_post_norm, block_out_.data(), n, hidden, block_out_.data());
  compute_.add(x_.data(), block_out_.data(), count);
  mlp(block_input(lw.ffn_pre_norm), block_out_.data());
  if (lw.ffn_post_norm.present) apply_norm(lw.ffn_post_norm, block_out_.data(), n, hidden, block_out_.data());
  compute_.add(x_.data(), block_out_.data(), count);
}

attention_args decoder_session::attention_for(int64_t layer, int64_t n) const {
  attention_args args;
  args.n_tokens = n;
  args.first_position = n_past_;
  args.n_heads = config_.heads;
  args.sliding_window = config_.layer[size_t(layer)].window;
  args.scale = float(config_.attention_scale);
  args.softcap = float(config_.attn_softcap);
  const auto& sinks = model_->weights.layers[size_t(layer)].attn.sinks;
  args.sinks = sinks.empty() ? nullptr : sinks.data();
  return args;
}

void decoder_session::standard_attention(int64_t layer, int64_t n, const float* in, float* out) {
  const attention_weights& a = model_->weights.layers[size_t(layer)].attn;
  const int64_t head_dim = config_.head_dim, heads = config_.heads, kv_heads = config_.kv_heads;
  const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
  const int rope = config_.layer[size_t(layer)].rope_index;
  q_.resize(size_t(n * q_dim));
  k_.resize(size_t(n * kv_dim));
  v_.resize(k_.size());
  attn_.resize(q_.size());

  compute_.matmul(a.q.w, a.q.bias_or_null(), in, n, q_.data());
  compute_.matmul(a.k.w, a.k.bias_or_null(), in, n, k_.data());
  compute_.matmul(a.v.w, a.v.bias_or_null(), in, n, v_.data());
  if (config_.clip_qkv > 0) {  // OLMo
    for (auto* t : {&q_, &k_, &v_}) compute_.clamp(t->data(), float(config_.clip_qkv), int64_t(t->size()));
  }
  if (a.q_norm.present) {
    // Per head (Qwen3, Gemma 3): rows of head_dim. Whole (OLMo 2): one row per token.
    const bool per_head = config_.arch->options.qk_norm == qk_norm_rule::per_head;
    apply_norm(a.q_norm, q_.data(), per_head ? n * heads : n, per_head ? head_dim : q_dim, q_.data());
    apply_norm(a.k_norm, k_.data(), per_head ? n * kv_heads : n, per_head ? head_dim : kv_dim, k_.data());
  }
  const int64_t rot = config_.ropes[size_t(rope)].rotary_dim;
  compute_.rope(q_.data(), n, heads, head_dim, rot, cos_[size_t(rope)].data(), sin_[size_t(rope)].data());
  compute_.rope(k_.data(), n, kv_heads, head_dim, rot, cos_[size_t(rope)].data(), sin_[size_t(rope)].data());

  // Append this chunk's keys and values to the cache, then attend over everything so far.
  float* k_cache = k_cache_[size_t(layer)].data();
  float* v_cache = v_cache_[size_t(layer)].data();
  std::memcpy(k_cache + n_past_ * kv_dim, k_.data(), k_.size() * sizeof(float));
  std::memcpy(v_cache + n_past_ * kv_dim, v_.data(), v_.size() * sizeof(float));

  attention_args args = attention_for(layer, n);
  args.q = q_.data();
  args.k_cache = k_cache;
  args.v_cache = v_cache;
  args.out = attn_.data();
  args.n_kv_heads = kv_heads;
  args.head_dim = args.v_dim = head_dim;
  args.k_stride = args.v_stride = kv_dim;
  compute_.attention(args);
  compute_.matmul(a.o.w, a.o.bias_or_null(), attn_.data(), n, out);
}

void decoder_session::latent_attention(int64_t layer, int64_t n, const float* in, float* out) {
  const attention_weights& a = model_->weights.layers[size_t(layer)].attn;
  const mla_config& m = config_.mla;
  const int64_t heads = config_.heads, qk = m.nope_dim + m.rope_dim;
  const int64_t row = m.kv_lora_rank + m.rope_dim;  // one cache row: latent, then shared rope key
  const int rope = config_.layer[size_t(layer)].rope_index;
  const float* cos = cos_[size_t(rope)].data();
  const float* sin = sin_[size_t(rope)].data();

  // Queries: [n, heads, nope + rope], through the low-rank path when the model has one.
  q_.resize(size_t(n * heads * qk));
  if (a.q_a.present()) {
    q_a_.resize(size_t(n * m.q_lora_rank));
    compute_.matmul(a.q_a.w, a.q_a.bias_or_null(), in, n, q_a_.data());
    apply_norm(a.q_a_norm, q_a_.data(), n, m.q_lora_rank, q_a_.data());
    compute_.matmul(a.q_b.w, nullptr, q_a_.data(), n, q_.data());
  } else {
    compute_.matmul(a.q.w, nullptr, in, n, q_.data());
  }
  compute_.rope(q_.data() + m.nope_dim, n, heads, qk, m.rope_dim, cos, sin);

  // Keys/values: the compressed latent (normalized) and one rotated key part shared by heads.
  kv_a_.resize(size_t(n * row));
  compute_.matmul(a.kv_a.w, a.kv_a.bias_or_null(), in, n, kv_a_.data());
  for (int64_t t = 0; t < n; ++t) apply_norm(a.kv_a_norm, kv_a_.data() + t * row, 1, m.kv_lora_rank, kv_a_.data() + t * row);
  compute_.rope(kv_a_.data() + m.kv_lora_rank, n, 1, row, m.rope_dim, cos, sin);
  float* cache = k_cache_[size_t(layer)].data();
  std::memcpy(cache + n_past_ * row, kv_a_.data(), kv_a_.size() * sizeof(float));

  // Absorb each head's key up-projection into its query: q_latent = W_uk^T q_nope. Then the
  // score of a cached row is q_latent . latent + q_rope . k_rope, with no expanded keys.
  latent_q_.resize(size_t(n * heads * row));
  gather_in_.resize(size_t(n * std::max(m.nope_dim, m.kv_lora_rank)));
  gather_out_.resize(size_t(n * std::max(m.kv_lora_rank, m.v_dim)));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(gather_in_.data() + t * m.nope_dim, q_.data() + (t * heads + h) * qk, size_t(m.nope_dim) * sizeof(float));
    compute_.matmul(a.k_absorb[size_t(h)], nullptr, gather_in_.data(), n, gather_out_.data());
    for (int64_t t = 0; t < n; ++t) {
      float* dst = latent_q_.data() + (t * heads + h) * row;
      std::memcpy(dst, gather_out_.data() + t * m.kv_lora_rank, size_t(m.kv_lora_rank) * sizeof(float));
      std::memcpy(dst + m.kv_lora_rank, q_.data() + (t * heads + h) * qk + m.nope_dim, size_t(m.rope_dim) * sizeof(float));
    }
  }

  latent_out_.resize(size_t(n * heads * m.kv_lora_rank));
  attention_args args = attention_for(layer, n);
  args.q = latent_q_.data();
  args.k_cache = cache;
  args.v_cache = cache;  // the values are the latent part of the same rows
  args.out = latent_out_.data();
  args.n_kv_heads = 1;
  args.head_dim = row;
  args.v_dim = m.kv_lora_rank;
  args.k_stride = args.v_stride = row;
  compute_.attention(args);

  // Each head's attended latent through its value up-projection: [n, heads, v_dim].
  attn_.resize(size_t(n * heads * m.v_dim));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(gather_in_.data() + t * m.kv_lora_rank, latent_out_.data() + (t * heads + h) * m.kv_lora_rank,
                  size_t(m.kv_lora_rank) * sizeof(float));
    compute_.matmul(a.v_up[size_t(h)], nullptr, gather_in_.data(), n, gather_out_.data());
    for (int64_t t = 0; t < n; ++t)
      std::memcpy(attn_.data() + (t * heads + h) * m.v_dim, gather_out_.data() + t * m.v_dim, size_t(m.v_dim) * sizeof(float));
  }
  compute_.matmul(a.o.w, a.o.bias_or_null(), attn_.data(), n, out);
}

void decoder_session::dense_mlp(const mlp_weights& w, int64_t n, const float* in, float* out) {
  const int64_t inter = w.up.w.rows;
  up_.resize(size_t(n * inter));
  compute_.matmul(w.up.w, w.up.bias_or_null(), in, n, up_.data());
  if (w.gate.present()) {
    gate_.resize(up_.size());
    compute_.matmul(w.gate.w, w.gate.bias_or_null(), in, n, gate_.data());
    compute_.gated_activation(config_.activation, gate_.data(), up_.data(), n * inter);
    compute_.matmul(w.down.w, w.down.bias_or_null(), gate_.data(), n, out);
  } else {
    compute_.activation(config_.activation, up_.data(), n * inter);
    compute_.matmul(w.down.w, w.down.bias_or_null(), up_.data(), n, out);
  }
}

void decoder_session::moe_mlp(int64_t layer, int64_t n, const float* in, float* out) {
  const moe_weights& w = model_->weights.layers[size_t(layer)].moe;
  const moe_config& m = config_.moe;
  const int64_t hidden = config_.hidden_size;
  router_logits_.resize(size_t(n * m.experts));
  compute_.matmul(w.router.w, w.router.bias_or_null(), in, n, router_logits_.data());

  // Group the tokens by expert so each expert runs once over all the tokens it was chosen for:
  // only the routed experts are computed.
  std::vector<std::vector<std::pair<int64_t, float>>> assigned(size_t(m.experts));
  for (int64_t t = 0; t < n; ++t) {
    route_token(m, std::span<const float>(router_logits_.data() + t * m.experts, size_t(m.experts)),
                w.correction_bias, choice_);
    for (size_t i = 0; i < choice_.experts.size(); ++i)
      assigned[size_t(choice_.experts[i])].emplace_back(t, choice_.weights[i]);
  }

  std::fill(out, out + n * hidden, 0.0f);
  std::vector<float> expert_out;
  for (int64_t e = 0; e < m.experts; ++e) {
    const auto& tokens = assigned[size_t(e)];
    if (tokens.empty()) continue;
    const int64_t count = int64_t(tokens.size());
    std::vector<float> expert_in(size_t(count * hidden));
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(expert_in.data() + i * hidden, in + tokens[size_t(i)].first * hidden, size_t(hidden) * sizeof(float));
    expert_out.resize(expert_in.size());
    dense_mlp(w.experts[size_t(e)], count, expert_in.data(), expert_out.data());
    for (int64_t i = 0; i < count; ++i)
      compute_.add(out + tokens[size_t(i)].first * hidden, expert_out.data() + i * hidden, hidden, tokens[size_t(i)].second);
  }
  if (w.shared.up.present()) {
    expert_out.resize(size_t(n * hidden));
    dense_mlp(w.shared, n, in, expert_out.data());
    compute_.add(out, expert_out.data(), n * hidden);
  }
}

}  // namespace owl
