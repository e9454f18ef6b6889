#include "arch/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "arch/decoder_pass.h"
#include "arch/rope.h"
#include "owl/error.h"

namespace owl {
namespace {
// Long prompts (and big batches) run in passes of at most this many rows, so activation
// memory stays bounded by the pass, not the prompt.
constexpr int64_t max_pass_rows = 512;
}  // namespace

int64_t kv_floats_per_token(const model_config& c) {
  if (c.arch->options.attention == attention_kind::latent) return c.mla.kv_lora_rank + c.mla.rope_dim;
  return 2 * c.kv_heads * c.head_dim;
}

decoder_session::decoder_session(std::shared_ptr<const decoder_model_state> model, int64_t capacity)
    : model_(std::move(model)), capacity_(capacity) {
  const model_config& config = model_->config;
  k_cache_.resize(size_t(config.layers));
  v_cache_.resize(size_t(config.layers));
  const bool latent = config.arch->options.attention == attention_kind::latent;
  const size_t element = dtype_size(model_->kv_type);
  for (int64_t l = 0; l < config.layers; ++l) {
    if (latent) {
      k_cache_[size_t(l)].resize(size_t(capacity_ * kv_floats_per_token(config)) * element);
    } else {
      k_cache_[size_t(l)].resize(size_t(capacity_ * config.kv_heads * config.head_dim) * element);
      v_cache_[size_t(l)].resize(k_cache_[size_t(l)].size());
    }
  }
}

void decoder_session::store(std::vector<std::byte>& cache, int64_t at, const float* rows, int64_t count) const {
  if (model_->kv_type == dtype::f16) {
    auto* dst = reinterpret_cast<uint16_t*>(cache.data()) + at;
    for (int64_t i = 0; i < count; ++i) dst[i] = f32_to_f16(rows[i]);
  } else {
    std::memcpy(reinterpret_cast<float*>(cache.data()) + at, rows, size_t(count) * sizeof(float));
  }
}

std::span<const float> decoder_session::forward(std::span<const int32_t> tokens, bool all_logits) {
  const batch_item item{this, tokens, all_logits};
  return decoder_forward_batch(std::span<const batch_item>(&item, 1))[0];
}

std::vector<std::span<const float>> decoder_forward_batch(std::span<const batch_item> items) {
  if (items.empty()) fail("forward", "an empty batch", "pass at least one sequence");
  std::vector<decoder_session*> sessions;
  const decoder_model_state* state = nullptr;
  for (const batch_item& item : items) {
    auto* s = dynamic_cast<decoder_session*>(item.sequence);
    if (!s) fail("forward", "a batch item has no session of this engine", "use sessions from model::new_session");
    if (!state) state = s->model_.get();
    if (s->model_.get() != state)
      fail("forward", "a batch mixes sessions of different models", "batch only sessions of one model");
    if (std::find(sessions.begin(), sessions.end(), s) != sessions.end())
      fail("forward", "a session appears twice in one batch", "give each session's tokens as one item");
    const int64_t n = int64_t(item.tokens.size());
    if (n == 0) fail("forward", "no tokens to run", "pass at least one token");
    if (s->n_past_ + n > s->capacity_)
      fail("forward", std::to_string(s->n_past_) + " tokens in the cache + " + std::to_string(n) +
                          " new ones exceed the session's capacity of " + std::to_string(s->capacity_),
           "use a shorter prompt or fewer new tokens, or a model with a longer context");
    for (int32_t id : item.tokens)
      if (id < 0 || id >= state->config.vocab_size)
        fail("forward", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                            std::to_string(state->config.vocab_size) + ")");
    sessions.push_back(s);
  }

  const size_t vocab = size_t(state->config.vocab_size);
  for (size_t i = 0; i < items.size(); ++i)
    sessions[i]->logits_.resize((items[i].all_logits ? items[i].tokens.size() : 1) * vocab);

  // Pack the items' tokens into passes of at most max_pass_rows rows; an item longer than
  // that continues in the next pass (its rows stay in order, so it sees its own keys).
  decoder_workspace& ws = sessions[0]->workspace_;
  std::vector<pass_segment> segments;
  std::vector<logits_row> wanted;
  size_t item = 0, consumed = 0;  // next item and how many of its tokens earlier passes ran
  while (item < items.size()) {
    segments.clear();
    wanted.clear();
    int64_t rows = 0;
    while (item < items.size() && rows < max_pass_rows) {
      const auto& tokens = items[item].tokens;
      const size_t take = std::min(tokens.size() - consumed, size_t(max_pass_rows - rows));
      segments.push_back({sessions[item], tokens.subspan(consumed, take), rows});
      float* logits = sessions[item]->logits_.data();
      if (items[item].all_logits) {
        for (size_t j = 0; j < take; ++j) wanted.push_back({rows + int64_t(j), logits + (consumed + j) * vocab});
      } else if (consumed + take == tokens.size()) {
        wanted.push_back({rows + int64_t(take) - 1, logits});
      }
      rows += int64_t(take);
      consumed += take;
      if (consumed == tokens.size()) {
        ++item;
        consumed = 0;
      }
    }
    decoder_pass(*state, ws, segments).run(wanted);
  }

  std::vector<std::span<const float>> out;
  out.reserve(items.size());
  for (decoder_session* s : sessions) out.emplace_back(s->logits_);
  return out;
}

decoder_pass::decoder_pass(const decoder_model_state& model, decoder_workspace& ws, std::span<const pass_segment> segments)
    : model_(model), config_(model.config), compute_(*model.compute), ws_(ws), segments_(segments) {
  for (const pass_segment& s : segments_) rows_ += int64_t(s.tokens.size());
}

void decoder_pass::apply_norm(const norm_weights& norm, const float* x, int64_t n, int64_t dim, float* y) {
  const float* w = norm.weight.empty() ? nullptr : norm.weight.data();
  if (norm.layer_norm)
    compute_.layer_norm(x, w, norm.bias.empty() ? nullptr : norm.bias.data(), n, dim, float(config_.norm_eps), y);
  else
    compute_.rms_norm(x, w, n, dim, float(config_.norm_eps), y);
}

void decoder_pass::run(std::span<const logits_row> wanted) {
  const model_weights& w = model_.weights;
  const int64_t hidden = config_.hidden_size, n = rows_;
  ws_.x.resize(size_t(n * hidden));
  ws_.normed.resize(ws_.x.size());
  ws_.block_out.resize(ws_.x.size());

  for (const pass_segment& s : segments_) compute_.embed(w.embed, s.tokens, ws_.x.data() + s.row0 * hidden);
  if (config_.embed_scale != 1.0) compute_.scale(ws_.x.data(), float(config_.embed_scale), n * hidden);

  // Rope tables [N, rotary_dim / 2]: each sequence's rows at its own positions.
  ws_.cos.resize(config_.ropes.size());
  ws_.sin.resize(config_.ropes.size());
  for (size_t r = 0; r < config_.ropes.size(); ++r) {
    const size_t half = size_t(config_.ropes[r].rotary_dim / 2);
    ws_.cos[r].resize(size_t(n) * half);
    ws_.sin[r].resize(size_t(n) * half);
    for (const pass_segment& s : segments_) {
      const int64_t first = s.sequence->n_past_, count = int64_t(s.tokens.size());
      rope_tables(rope_inv_freq(config_.ropes[r], first + count), config_.ropes[r].attention_factor, first, count,
                  ws_.cos_part, ws_.sin_part);
      std::copy(ws_.cos_part.begin(), ws_.cos_part.end(), ws_.cos[r].begin() + s.row0 * int64_t(half));
      std::copy(ws_.sin_part.begin(), ws_.sin_part.end(), ws_.sin[r].begin() + s.row0 * int64_t(half));
    }
  }

  // The last layer's MLP (and everything after) only matters for the rows whose logits are
  // wanted: after its attention (which every row needs, to fill the cache) the other rows are
  // dropped. Each kept row is computed exactly as before. (With a parallel residual the MLP
  // reads the layer's input, so there all rows run.)
  const bool prune = !config_.parallel_residual && int64_t(wanted.size()) < rows_;
  std::vector<int64_t> kept;
  if (prune)
    for (const logits_row& r : wanted) kept.push_back(r.row);
  for (int64_t layer = 0; layer < config_.layers; ++layer)
    run_layer(layer, prune && layer == config_.layers - 1 ? &kept : nullptr);
  for (const pass_segment& s : segments_) s.sequence->n_past_ += int64_t(s.tokens.size());
  if (wanted.empty()) return;

  // Final norm and lm_head only for the rows whose logits are wanted.
  const int64_t rows = int64_t(wanted.size()), vocab = config_.vocab_size;
  ws_.head_rows.resize(size_t(rows * hidden));
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(ws_.head_rows.data() + i * hidden, ws_.x.data() + (prune ? i : wanted[size_t(i)].row) * hidden,
                size_t(hidden) * sizeof(float));
  apply_norm(w.final_norm, ws_.head_rows.data(), rows, hidden, ws_.head_rows.data());
  ws_.head_logits.resize(size_t(rows * vocab));
  compute_.matmul(w.lm_head.w, w.lm_head.bias_or_null(), ws_.head_rows.data(), rows, ws_.head_logits.data());
  if (config_.final_softcap > 0) compute_.softcap(ws_.head_logits.data(), float(config_.final_softcap), rows * vocab);
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(wanted[size_t(i)].out, ws_.head_logits.data() + i * vocab, size_t(vocab) * sizeof(float));
}

void decoder_pass::run_layer(int64_t layer, const std::vector<int64_t>* keep_rows) {
  const layer_weights& lw = model_.weights.layers[size_t(layer)];
  const int64_t hidden = config_.hidden_size;
  int64_t n = rows_, count = n * hidden;  // shrink when keep_rows drops rows before the MLP
  const bool latent = config_.arch->options.attention == attention_kind::latent;
  auto attention = [&](const float* in, float* out) {
    if (latent) latent_attention(layer, in, out);
    else standard_attention(layer, in, out);
  };
  auto mlp = [&](const float* in, float* out) {
    if (config_.layer[size_t(layer)].moe) moe_mlp(layer, in, out);
    else dense_mlp(lw.mlp, n, in, out);
  };
  // A block's input is the normed residual, or the residual itself when it has no pre-norm.
  auto block_input = [&](const norm_weights& pre) -> const float* {
    if (!pre.present) return ws_.x.data();
    apply_norm(pre, ws_.x.data(), n, hidden, ws_.normed.data());
    return ws_.normed.data();
  };

  if (config_.parallel_residual) {  // GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x))
    ws_.mlp_out.resize(size_t(count));
    attention(block_input(lw.attn_pre_norm), ws_.block_out.data());
    mlp(block_input(lw.ffn_pre_norm), ws_.mlp_out.data());
    compute_.add(ws_.x.data(), ws_.block_out.data(), count);
    compute_.add(ws_.x.data(), ws_.mlp_out.data(), count);
    return;
  }
  attention(block_input(lw.attn_pre_norm), ws_.block_out.data());
  if (lw.attn_post_norm.present) apply_norm(lw.attn_post_norm, ws_.block_out.data(), n, hidden, ws_.block_out.data());
  compute_.add(ws_.x.data(), ws_.block_out.data(), count);
  if (keep_rows) {  // rows ascending: row keep[i] >= i moves down to i
    for (size_t i = 0; i < keep_rows->size(); ++i)
      if ((*keep_rows)[i] != int64_t(i))
        std::memcpy(ws_.x.data() + int64_t(i) * hidden, ws_.x.data() + (*keep_rows)[i] * hidden,
                    size_t(hidden) * sizeof(float));
    rows_ = n = int64_t(keep_rows->size());
    count = n * hidden;
    if (n == 0) return;
  }
  mlp(block_input(lw.ffn_pre_norm), ws_.block_out.data());
  if (lw.ffn_post_norm.present) apply_norm(lw.ffn_post_norm, ws_.block_out.data(), n, hidden, ws_.block_out.data());
  compute_.add(ws_.x.data(), ws_.block_out.data(), count);
}

void decoder_pass::dense_mlp(const mlp_weights& w, int64_t n, const float* in, float* out) {
  const int64_t inter = w.up.w.rows;
  ws_.up.resize(size_t(n * inter));
  compute_.matmul(w.up.w, w.up.bias_or_null(), in, n, ws_.up.data());
  if (w.gate.present()) {
    ws_.gate.resize(ws_.up.size());
    compute_.matmul(w.gate.w, w.gate.bias_or_null(), in, n, ws_.gate.data());
    compute_.gated_activation(config_.activation, ws_.gate.data(), ws_.up.data(), n * inter);
    compute_.matmul(w.down.w, w.down.bias_or_null(), ws_.gate.data(), n, out);
  } else {
    compute_.activation(config_.activation, ws_.up.data(), n * inter);
    compute_.matmul(w.down.w, w.down.bias_or_null(), ws_.up.data(), n, out);
  }
}

void decoder_pass::moe_mlp(int64_t layer, const float* in, float* out) {
  const moe_weights& w = model_.weights.layers[size_t(layer)].moe;
  const moe_config& m = config_.moe;
  const int64_t hidden = config_.hidden_size, n = rows_;
  ws_.router_logits.resize(size_t(n * m.experts));
  compute_.matmul(w.router.w, w.router.bias_or_null(), in, n, ws_.router_logits.data());

  // Group the rows by expert so each expert runs once over all the rows it was chosen for:
  // only the routed experts are computed.
  auto& assigned = ws_.expert_rows;
  assigned.resize(size_t(m.experts));
  for (auto& rows : assigned) rows.clear();
  for (int64_t t = 0; t < n; ++t) {
    route_token(m, std::span<const float>(ws_.router_logits.data() + t * m.experts, size_t(m.experts)),
                w.correction_bias, ws_.choice);
    for (size_t i = 0; i < ws_.choice.experts.size(); ++i)
      assigned[size_t(ws_.choice.experts[i])].emplace_back(t, ws_.choice.weights[i]);
  }

  std::fill(out, out + n * hidden, 0.0f);
  for (int64_t e = 0; e < m.experts; ++e) {
    const auto& rows = assigned[size_t(e)];
    if (rows.empty()) continue;
    const int64_t count = int64_t(rows.size());
    ws_.expert_in.resize(size_t(count * hidden));
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(ws_.expert_in.data() + i * hidden, in + rows[size_t(i)].first * hidden, size_t(hidden) * sizeof(float));
    ws_.expert_out.resize(ws_.expert_in.size());
    dense_mlp(w.experts[size_t(e)], count, ws_.expert_in.data(), ws_.expert_out.data());
    for (int64_t i = 0; i < count; ++i)
      compute_.add(out + rows[size_t(i)].first * hidden, ws_.expert_out.data() + i * hidden, hidden, rows[size_t(i)].second);
  }
  if (w.shared.up.present()) {
    ws_.expert_out.resize(size_t(n * hidden));
    dense_mlp(w.shared, n, in, ws_.expert_out.data());
    compute_.add(out, ws_.expert_out.data(), n * hidden);
  }
}

}  // namespace owl
