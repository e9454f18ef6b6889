#include "arch/weights.h"

#include <set>

#include "owl/error.h"

namespace owl {
namespace {

std::string layer_name(std::string_view pattern, int64_t layer) {
  std::string name(pattern);
  if (auto at = name.find("{}"); at != std::string::npos) name.replace(at, 2, std::to_string(layer));
  return name;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Looks tensors up by name and remembers which were used, so leftovers can be reported.
class binder {
 public:
  binder(const weight_store& store) : store_(store) {}

  const tensor_view& tensor(const std::string& name, std::vector<int64_t> shape) {
    const tensor_view& t = store_.get(name);
    used_.insert(name);
    if (t.type != dtype::f32 && t.type != dtype::f16 && t.type != dtype::bf16)
      fail(t.source + ": tensor '" + name + "'",
           "expected a float weight (F32, F16 or BF16), found " + std::string(dtype_name(t.type)));
    if (t.shape != shape)
      fail(t.source + ": tensor '" + name + "'",
           "expected shape " + shape_string(shape) + " from config.json, found " + shape_string(t.shape),
           "config.json and the weights disagree; is this the right config for the checkpoint?");
    return t;
  }

  std::vector<float> vector(const std::string& name, int64_t size) { return tensor(name, {size}).to_f32(); }

  weight_matrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    const tensor_view& t = tensor(name, {rows, cols});
    return weight_matrix{t.type, t.data, rows, cols};
  }

  linear_weights linear(std::string_view pattern, int64_t layer, int64_t out, int64_t in, bool bias) {
    std::string base = layer_name(pattern, layer);
    linear_weights l{matrix(base + ".weight", out, in), {}};
    if (bias) l.bias = vector(base + ".bias", out);
    return l;
  }

  std::vector<float> norm(std::string_view pattern, int64_t layer, int64_t size) {
    return vector(layer_name(pattern, layer) + ".weight", size);
  }

  // Every tensor of the checkpoint must have been used: a leftover means the checkpoint has a
  // feature (bias, norm, expert...) that this configuration would silently ignore.
  void reject_unused(const std::string& arch) const {
    for (const std::string& name : store_.names()) {
      if (used_.count(name)) continue;
      // Old checkpoints store precomputed rope frequencies; they are derived from config.
      if (name.ends_with("rotary_emb.inv_freq")) continue;
      fail(store_.get(name).source + ": tensor '" + name + "'", "is not used by " + arch + " with this config.json",
           "the checkpoint does not match its config (e.g. biases or norms the config does not declare)");
    }
  }

  void mark_used(const std::string& name) { used_.insert(name); }

 private:
  const weight_store& store_;
  std::set<std::string, std::less<>> used_;
};

}  // namespace

model_weights bind_weights(const weight_store& store, const model_config& c) {
  const tensor_names& names = c.arch->names;
  binder bind(store);
  model_weights w;
  const int64_t q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;

  w.embed = bind.matrix(std::string(names.embed) + ".weight", c.vocab_size, c.hidden_size);
  w.stored_dtype = std::string(dtype_name(w.embed.type));
  w.final_norm = bind.vector(std::string(names.final_norm) + ".weight", c.hidden_size);
  const std::string lm_head_name = std::string(names.lm_head) + ".weight";
  if (c.tie_word_embeddings) {
    w.lm_head.w = w.embed;
    // Some tied checkpoints still carry a copy of lm_head; it must equal the embedding's shape.
    if (store.find(lm_head_name)) bind.matrix(lm_head_name, c.vocab_size, c.hidden_size);
  } else {
    w.lm_head.w = bind.matrix(lm_head_name, c.vocab_size, c.hidden_size);
  }

  for (int64_t i = 0; i < c.layers; ++i) {
    layer_weights l;
    l.attn_norm = bind.norm(names.attn_norm, i, c.hidden_size);
    l.ffn_norm = bind.norm(names.ffn_norm, i, c.hidden_size);
    if (c.arch->options.qk_norm) {
      l.q_norm = bind.norm(names.q_norm, i, c.head_dim);
      l.k_norm = bind.norm(names.k_norm, i, c.head_dim);
    }
    l.q = bind.linear(names.q, i, q_dim, c.hidden_size, c.qkv_bias);
    l.k = bind.linear(names.k, i, kv_dim, c.hidden_size, c.qkv_bias);
    l.v = bind.linear(names.v, i, kv_dim, c.hidden_size, c.qkv_bias);
    l.o = bind.linear(names.o, i, c.hidden_size, q_dim, c.o_bias);
    l.gate = bind.linear(names.gate, i, c.intermediate_size, c.hidden_size, c.mlp_bias);
    l.up = bind.linear(names.up, i, c.intermediate_size, c.hidden_size, c.mlp_bias);
    l.down = bind.linear(names.down, i, c.hidden_size, c.intermediate_size, c.mlp_bias);
    w.layers.push_back(std::move(l));
  }
  bind.reject_unused(std::string(c.arch->hf_name));
  return w;
}

}  // namespace owl
