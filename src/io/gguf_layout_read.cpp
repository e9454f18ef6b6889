// GGUF tensors -> owl's canonical layout. Every shape is from an untrusted file: anything that
// is rearranged here is checked against the config before a byte is read.
#include <cstring>

#include "io/gguf.h"
#include "io/gguf_layout.h"
#include "owl/error.h"

namespace owl {
namespace {

struct reader {
  const gguf_arch& arch;
  const nlohmann::json& config;
  const gguf_file& file;
  std::vector<std::vector<std::byte>>& owned;
  std::vector<tensor_view> views;

  std::string where(const std::string& name) const { return file.path().string() + ": tensor '" + name + "'"; }

  int64_t number(const char* key) const {
    const auto it = config.find(key);
    return it != config.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  }

  // The tensor as a view in Hugging Face order (outermost first), its type checked.
  tensor_view view_of(const gguf_tensor_info& t, std::string name) const {
    const auto type = dtype_from_ggml(t.ggml_type);
    if (!type)
      fail(where(t.name), "GGUF type " + std::to_string(t.ggml_type) + " cannot be computed with",
           "owl computes with F32, F16, BF16, Q4_0..Q8_0, Q2_K..Q8_K, IQ4_NL and IQ4_XS");
    tensor_view v;
    v.name = std::move(name);
    v.type = *type;
    v.shape.assign(t.shape.rbegin(), t.shape.rend());
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.source = file.path().string();
    return v;
  }

  const gguf_tensor_info& need(const std::string& name, const std::string& because) const {
    const gguf_tensor_info* t = file.find_tensor(name);
    if (!t) fail(where(name), "missing", "it comes with '" + because + "'");
    return *t;
  }

  // ggml order (ne[0] first), as the file lists it.
  void check_ne(const gguf_tensor_info& t, const std::vector<int64_t>& want) const {
    if (t.shape == want) return;
    std::string a, b;
    for (int64_t d : want) a += (a.empty() ? "" : ", ") + std::to_string(d);
    for (int64_t d : t.shape) b += (b.empty() ? "" : ", ") + std::to_string(d);
    fail(where(t.name), "expected ne = [" + a + "], found [" + b + "]", "the tensor does not match the file's metadata");
  }

  void add_f32(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    tensor_view v;
    v.name = std::move(name);
    v.type = dtype::f32;
    v.shape = std::move(shape);
    v.data = bytes.data();
    v.nbytes = bytes.size();
    v.source = file.path().string();
    owned.push_back(std::move(bytes));
    views.push_back(std::move(v));
  }

  // One stacked [experts, rows, cols] tensor -> per-expert views (whole rows: any type).
  void split_experts(const gguf_tensor_info& t) {
    if (t.shape.size() != 3) fail(where(t.name), "expected a 3-D [cols, rows, experts] tensor");
    const tensor_view all = view_of(t, t.name);
    const size_t per_expert = t.nbytes / size_t(t.shape[2]);
    for (int64_t e = 0; e < t.shape[2]; ++e) {
      tensor_view v = all;
      v.name = *hf_expert_name(arch, t.name, e);
      v.shape = {t.shape[1], t.shape[0]};
      v.data = t.data + size_t(e) * per_expert;
      v.nbytes = per_expert;
      views.push_back(std::move(v));
    }
  }

  // gpt-oss: llama.cpp stores the experts already split, ffn_{gate,up}_exps [E, inter, hidden]
  // and ffn_down_exps [E, hidden, inter] (+ [E, inter] biases): each expert's slice is bound in
  // place, in its stored type, as model.layers.L.mlp.experts.E.{gate,up,down}_proj (the
  // binder's alternative to Hugging Face's fused gate_up_proj; weights.cpp).
  void gpt_oss_experts(const gguf_tensor_info& t, int64_t layer, const std::string& part) {
    const std::string hf = "model.layers." + std::to_string(layer) + ".mlp.experts.";
    const int64_t experts = number("num_local_experts"), inter = number("intermediate_size"), hidden = number("hidden_size");
    const bool bias = part.ends_with(".bias");
    const std::string projection = part.starts_with("ffn_gate") ? "gate_proj" : part.starts_with("ffn_up") ? "up_proj" : "down_proj";
    std::vector<int64_t> ne = projection == "down_proj" ? std::vector<int64_t>{inter, hidden, experts}
                                                        : std::vector<int64_t>{hidden, inter, experts};
    if (bias) ne = {inter, experts};
    check_ne(t, ne);
    if (projection != "down_proj")  // gate and up come in pairs
      need("blk." + std::to_string(layer) + "." + (projection == "gate_proj" ? "ffn_up_exps" : "ffn_gate_exps") +
               (bias ? ".bias" : ".weight"),
           t.name);
    const tensor_view all = view_of(t, t.name);
    const size_t per_expert = t.nbytes / size_t(experts);
    for (int64_t e = 0; e < experts; ++e) {
      tensor_view v = all;
      v.name = hf + std::to_string(e) + "." + projection + (bias ? ".bias" : ".weight");
      v.shape = bias ? std::vector<int64_t>{ne[0]} : std::vector<int64_t>{ne[1], ne[0]};
      v.data = t.data + size_t(e) * per_expert;
      v.nbytes = per_expert;
      views.push_back(std::move(v));
    }
  }

  // DeepSeek: llama.cpp splits kv_b per head into attn_k_b [heads, rank, nope] (the k part,
  // transposed) and attn_v_b [heads, v, rank]: exactly the per-head matrices owl's latent
  // attention multiplies with (k_absorb, v_up; weights.cpp), bound in place in their stored
  // type as model.layers.L.self_attn.kv_b_proj.{k_absorb,v_up}.H.weight.
  void kv_b_heads(const gguf_tensor_info& t, int64_t layer, bool k_part) {
    const int64_t heads = number("num_attention_heads"), rank = number("kv_lora_rank");
    const int64_t nope = number("qk_nope_head_dim"), vd = number("v_head_dim");
    check_ne(t, k_part ? std::vector<int64_t>{nope, rank, heads} : std::vector<int64_t>{rank, vd, heads});
    need("blk." + std::to_string(layer) + (k_part ? ".attn_v_b.weight" : ".attn_k_b.weight"), t.name);  // the pair
    const tensor_view all = view_of(t, t.name);
    const size_t per_head = t.nbytes / size_t(heads);
    for (int64_t h = 0; h < heads; ++h) {
      tensor_view v = all;
      v.name = "model.layers." + std::to_string(layer) + ".self_attn.kv_b_proj." + (k_part ? "k_absorb." : "v_up.") +
               std::to_string(h) + ".weight";
      v.shape = k_part ? std::vector<int64_t>{rank, nope} : std::vector<int64_t>{vd, rank};
      v.data = t.data + size_t(h) * per_head;
      v.nbytes = per_head;
      views.push_back(std::move(v));
    }
  }

  // GPT-NeoX fused q/k/v: llama.cpp rows [3, heads, head_dim] back to [heads, 3, head_dim].
  void neox_qkv(const gguf_tensor_info& t, const std::string& hf_name) {
    const int64_t heads = number("num_attention_heads"), hidden = number("hidden_size");
    const int64_t head_dim = heads ? hidden / heads : 0;
    const bool bias = t.shape.size() == 1;
    check_ne(t, bias ? std::vector<int64_t>{3 * hidden} : std::vector<int64_t>{hidden, 3 * hidden});
    tensor_view v = view_of(t, hf_name);
    // Rows move whole; a quantized vector has no per-element rows.
    if (bias && is_quantized(v.type)) fail(where(t.name), "a quantized bias cannot be reordered", "store it as F32");
    const size_t row_bytes = t.nbytes / size_t(3 * hidden);
    std::vector<int64_t> order(size_t(3 * hidden));
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t s = 0; s < 3; ++s)
        for (int64_t d = 0; d < head_dim; ++d) order[size_t((h * 3 + s) * head_dim + d)] = (s * heads + h) * head_dim + d;
    std::vector<std::byte> bytes(t.nbytes);
    for (size_t r = 0; r < order.size(); ++r) std::memcpy(&bytes[r * row_bytes], t.data + size_t(order[r]) * row_bytes, row_bytes);
    v.data = bytes.data();
    owned.push_back(std::move(bytes));
    views.push_back(std::move(v));
  }

  void add(const gguf_tensor_info& t) {
    if (t.name == "rope_freqs.weight") return;  // rope parameters, not a weight: read_gguf_model reads them
    const std::string& n = t.name;
    if (arch.family == gguf_family::gpt_oss) {
      for (const char* part : {"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight", "ffn_gate_exps.bias",
                               "ffn_up_exps.bias"})
        if (auto layer = match_layer_pattern(std::string("blk.{}.") + part, n)) return gpt_oss_experts(t, *layer, part);
    } else if (hf_expert_name(arch, n, 0)) {
      return split_experts(t);
    }
    if (arch.family == gguf_family::deepseek2) {
      if (auto layer = match_layer_pattern("blk.{}.attn_k_b.weight", n)) return kv_b_heads(t, *layer, true);
      if (auto layer = match_layer_pattern("blk.{}.attn_v_b.weight", n)) return kv_b_heads(t, *layer, false);
    }
    const std::string hf_name = hf_tensor_name(arch, n).value_or(n);  // unmapped names are reported as unused
    if (arch.family == gguf_family::gpt_neox && (n.ends_with("attn_qkv.weight") || n.ends_with("attn_qkv.bias")))
      return neox_qkv(t, hf_name);
    if (arch.norm_plus_one && t.shape.size() == 1 && n.ends_with("norm.weight")) {
      auto values = decode_rows(view_of(t, hf_name));
      for (float& x : values) x -= 1.0f;  // the file holds 1 + w
      return add_f32(hf_name, {t.shape[0]}, values);
    }
    views.push_back(view_of(t, hf_name));
  }
};

}  // namespace

std::vector<tensor_view> read_gguf_tensors(const gguf_arch& arch, const nlohmann::json& config, const gguf_file& file,
                                           std::vector<std::vector<std::byte>>& owned) {
  reader r{arch, config, file, owned, {}};
  for (const gguf_tensor_info& t : file.tensors()) r.add(t);
  return std::move(r.views);
}

}  // namespace owl
