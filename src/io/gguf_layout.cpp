#include "io/gguf_layout.h"

#include <cstring>
#include <map>
#include <optional>
#include <string_view>

#include "arch/model_config.h"
#include "io/gguf.h"
#include "owl/error.h"
#include "quant/quant.h"

namespace owl {

std::optional<dtype> dtype_from_ggml(uint32_t ggml_type) {
  if (ggml_type == ggml_types::f32) return dtype::f32;
  if (ggml_type == ggml_types::f16) return dtype::f16;
  if (ggml_type == ggml_types::bf16) return dtype::bf16;
  if (auto q = quant::from_ggml_type(int(ggml_type))) return dtype(size_t(dtype::q4_0) + size_t(*q));
  return std::nullopt;
}

uint32_t ggml_from_dtype(dtype type) {
  switch (type) {
    case dtype::f32: return ggml_types::f32;
    case dtype::f16: return ggml_types::f16;
    case dtype::bf16: return ggml_types::bf16;
    default:
      if (is_quantized(type)) return uint32_t(quant::info(quant::qtype(size_t(type) - size_t(dtype::q4_0))).ggml_type);
      fail("gguf", "type " + std::string(dtype_name(type)) + " cannot be written to GGUF");
  }
}

namespace {

// llama.cpp's "use_more_bits": the first and last eighth of the layers and every third between.
bool more_bits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// N of a name "blk.N.<rest>", else nullopt.
std::optional<int64_t> layer_of(std::string_view name) {
  const size_t dot = name.find('.', 4);  // the one after N, if the name starts with "blk."
  return dot == std::string_view::npos ? std::nullopt : match_layer_pattern("blk.{}.", name.substr(0, dot + 1));
}

// llama.cpp's substitutes for a type whose blocks do not divide the rows (llama-quantize's
// "fallback quantization"), and F16 where those do not divide them either.
dtype fit_rows(dtype type, int64_t cols) {
  if (cols % dtype_block_size(type) == 0) return type;
  switch (type) {
    case dtype::q2_k: case dtype::q3_k: case dtype::iq4_xs: type = dtype::iq4_nl; break;
    case dtype::q4_k: type = dtype::q5_0; break;
    case dtype::q5_k: type = dtype::q5_1; break;
    case dtype::q6_k: type = dtype::q8_0; break;
    default: return dtype::f16;
  }
  return cols % dtype_block_size(type) == 0 ? type : dtype::f16;
}

}  // namespace

// The type a weight gets: the requested one, or under a mix llama.cpp's choice for Q4_K_M and
// Q5_K_M (llama_tensor_get_type): the output layer, or the embedding when it doubles as the
// output, Q6_K (Q8_0 where 256 does not divide its rows); attn_v and every ffn_down (experts and
// shared experts too) Q6_K in the more_bits layers; fused attn_qkv one step up; with 8 experts
// attn_v and attn_k Q8_0 and (Q4_K_M) attn_output Q5_K. Then fit_rows.
dtype choose_gguf_type(const gguf_convert_options& o, const std::string& gguf_name, const gguf_type_context& c) {
  dtype type = o.type;
  if (o.mix.empty()) return fit_rows(type, c.cols);
  const auto layer = layer_of(gguf_name);
  const bool in_more_bits_layer = layer && more_bits(*layer, c.layers);
  const auto has = [&](std::string_view part) { return gguf_name.find(part) != std::string::npos; };
  if (gguf_name == "output.weight" || (!c.has_output && gguf_name == "token_embd.weight")) {
    type = c.cols % dtype_block_size(o.type) != 0 ? dtype::q8_0 : dtype::q6_k;
  } else if (gguf_name == "token_embd.weight") {
    // the mix's base type
  } else if (has("attn_v.weight")) {
    if (c.experts == 8) type = dtype::q8_0;
    else if (in_more_bits_layer) type = dtype::q6_k;
  } else if (has("attn_k.weight")) {
    if (c.experts == 8) type = dtype::q8_0;
  } else if (has("ffn_down")) {
    if (in_more_bits_layer) type = dtype::q6_k;
  } else if (has("attn_output.weight")) {
    if (c.experts == 8 && o.mix == "Q4_K_M") type = dtype::q5_k;
  } else if (has("attn_qkv.weight")) {
    type = o.mix == "Q4_K_M" ? dtype::q5_k : dtype::q6_k;
  }
  return fit_rows(type, c.cols);
}

std::vector<std::byte> encode_rows(const std::vector<float>& values, int64_t rows, int64_t cols, dtype type) {
  const size_t row_bytes = dtype_row_bytes(type, cols);
  std::vector<std::byte> out(size_t(rows) * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = values.data() + r * cols;
    std::byte* dst = out.data() + size_t(r) * row_bytes;
    if (type == dtype::f32) {
      std::memcpy(dst, src, size_t(cols) * 4);
    } else if (type == dtype::f16 || type == dtype::bf16) {
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h = type == dtype::f16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
    } else {
      quant::quantize_row(quant::qtype(size_t(type) - size_t(dtype::q4_0)), src, dst, cols);
    }
  }
  return out;
}

std::vector<float> decode_rows(const tensor_view& t) {
  const int64_t cols = t.shape.empty() ? 0 : t.shape.back();
  const int64_t rows = cols ? t.numel() / cols : 0;
  std::vector<float> out(size_t(t.numel()));
  const size_t row_bytes = dtype_row_bytes(t.type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const std::byte* p = t.data + size_t(r) * row_bytes;
    if (t.type == dtype::f32 || t.type == dtype::f16 || t.type == dtype::bf16) {
      for (int64_t i = 0; i < cols; ++i) {
        if (t.type == dtype::f32) {
          std::memcpy(&out[size_t(r * cols + i)], p + 4 * i, 4);
        } else {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[size_t(r * cols + i)] = t.type == dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
      }
    } else if (is_quantized(t.type)) {
      quant::dequantize_row(quant::qtype(size_t(t.type) - size_t(dtype::q4_0)), p, out.data() + r * cols, cols);
    } else {
      fail(t.source + ": tensor '" + t.name + "'", "type " + std::string(dtype_name(t.type)) + " is not a float weight");
    }
  }
  return out;
}

namespace {

// Row order between rotate-half (Hugging Face) and interleaved (llama.cpp) q/k layouts.
std::vector<int64_t> interleave_rows(int64_t heads, int64_t head_dim) {
  std::vector<int64_t> rows(size_t(heads * head_dim));
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) rows[size_t(h * head_dim + 2 * i + j)] = h * head_dim + j * half + i;
  return rows;
}

// GPT-NeoX's fused q/k/v rows: Hugging Face [heads, 3, head_dim], llama.cpp [3, heads, head_dim].
// Entry r is the Hugging Face row that llama.cpp row r holds.
std::vector<int64_t> neox_qkv_rows(int64_t heads, int64_t head_dim) {
  std::vector<int64_t> rows(size_t(3 * heads * head_dim));
  for (int64_t s = 0; s < 3; ++s)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t d = 0; d < head_dim; ++d) rows[size_t((s * heads + h) * head_dim + d)] = (h * 3 + s) * head_dim + d;
  return rows;
}

// out[r] = in[order[r]] for rows of `row_bytes` (any element type: rows move whole).
std::vector<std::byte> gather_rows(const std::byte* in, size_t row_bytes, const std::vector<int64_t>& order) {
  std::vector<std::byte> out(order.size() * row_bytes);
  for (size_t r = 0; r < order.size(); ++r) std::memcpy(&out[r * row_bytes], in + size_t(order[r]) * row_bytes, row_bytes);
  return out;
}

bool is_norm_weight(std::string_view name) { return name.ends_with("norm.weight"); }

// --- writing ---------------------------------------------------------------------------------

struct tensor_sink {
  const model_config& c;
  const gguf_convert_options& o;
  gguf_writer& w;
  // `shape` outermost first; ggml lists it the other way round.
  void put(const std::string& name, const std::vector<float>& values, std::vector<int64_t> shape) const {
    const int64_t cols = shape.back(), rows = int64_t(values.size()) / cols;
    // Biases, norms and the router stay F32 as llama.cpp keeps them: a rounded router can flip
    // which experts a token goes to.
    const bool keep_f32 = shape.size() == 1 || name.ends_with(".bias") || name.ends_with("ffn_gate_inp.weight");
    const dtype type =
        keep_f32 ? dtype::f32
                 : choose_gguf_type(o, name, {.cols = cols, .layers = c.layers, .has_output = !c.tie_word_embeddings,
                                              .experts = c.moe.experts});
    std::vector<int64_t> ne(shape.rbegin(), shape.rend());
    w.add_tensor(name, ggml_from_dtype(type), ne, encode_rows(values, rows, cols, type));
  }
};

void check_shape(const tensor_view& t, const std::vector<int64_t>& want) {
  if (t.shape != want) {
    std::string a, b;
    for (int64_t d : want) a += (a.empty() ? "" : ", ") + std::to_string(d);
    for (int64_t d : t.shape) b += (b.empty() ? "" : ", ") + std::to_string(d);
    fail(t.source + ": tensor '" + t.name + "'", "expected shape [" + a + "], found [" + b + "]",
         "the checkpoint does not match its config.json");
  }
}

// gpt-oss: gate_up [E, in, 2 * inter] with gate/up in alternating columns -> two [E, inter, in].
void write_gpt_oss_experts(const tensor_sink& out, int64_t layer, const std::string& what, const tensor_view& t) {
  const model_config& c = out.c;
  const int64_t experts = c.moe.experts, inter = c.moe.expert_intermediate, hidden = c.hidden_size;
  const std::string blk = "blk." + std::to_string(layer) + ".";
  const std::vector<float> v = decode_rows(t);
  if (what == "gate_up_proj") {
    check_shape(t, {experts, hidden, 2 * inter});
    std::vector<float> gate(v.size() / 2), up(v.size() / 2);
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t j = 0; j < inter; ++j)
        for (int64_t i = 0; i < hidden; ++i) {
          const size_t src = size_t((e * hidden + i) * 2 * inter + 2 * j), dst = size_t((e * inter + j) * hidden + i);
          gate[dst] = v[src];
          up[dst] = v[src + 1];
        }
    out.put(blk + "ffn_gate_exps.weight", gate, {experts, inter, hidden});
    out.put(blk + "ffn_up_exps.weight", up, {experts, inter, hidden});
  } else if (what == "gate_up_proj_bias") {
    check_shape(t, {experts, 2 * inter});
    std::vector<float> gate(v.size() / 2), up(v.size() / 2);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = v[2 * i], up[i] = v[2 * i + 1];
    out.put(blk + "ffn_gate_exps.bias", gate, {experts, inter});
    out.put(blk + "ffn_up_exps.bias", up, {experts, inter});
  } else {  // down_proj [E, inter, hidden] -> [E, hidden, inter]
    check_shape(t, {experts, inter, hidden});
    std::vector<float> down(v.size());
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t j = 0; j < inter; ++j)
        for (int64_t h = 0; h < hidden; ++h) down[size_t((e * hidden + h) * inter + j)] = v[size_t((e * inter + j) * hidden + h)];
    out.put(blk + "ffn_down_exps.weight", down, {experts, hidden, inter});
  }
}

// DeepSeek kv_b [heads * (nope + v), rank] -> attn_k_b [heads, rank, nope] (each head's key
// part transposed, for llama.cpp's absorbed attention) and attn_v_b [heads, v, rank].
void write_kv_b(const tensor_sink& out, int64_t layer, const tensor_view& t) {
  const mla_config& m = out.c.mla;
  const int64_t heads = out.c.heads, nope = m.nope_dim, vd = m.v_dim, rank = m.kv_lora_rank;
  check_shape(t, {heads * (nope + vd), rank});
  const std::vector<float> v = decode_rows(t);
  std::vector<float> k_b(size_t(heads * rank * nope)), v_b(size_t(heads * vd * rank));
  for (int64_t h = 0; h < heads; ++h) {
    const size_t base = size_t(h * (nope + vd) * rank);
    for (int64_t n = 0; n < nope; ++n)
      for (int64_t r = 0; r < rank; ++r) k_b[size_t((h * rank + r) * nope + n)] = v[base + size_t(n * rank + r)];
    std::memcpy(&v_b[size_t(h * vd * rank)], &v[base + size_t(nope * rank)], size_t(vd * rank) * 4);
  }
  const std::string blk = "blk." + std::to_string(layer) + ".";
  out.put(blk + "attn_k_b.weight", k_b, {heads, rank, nope});
  out.put(blk + "attn_v_b.weight", v_b, {heads, vd, rank});
}

}  // namespace

void write_gguf_tensors(const gguf_arch& arch, const model_config& c, const weight_store& store,
                        const gguf_convert_options& options, gguf_writer& writer) {
  const tensor_sink out{c, options, writer};
  std::map<std::string, std::map<int64_t, std::string>> stacks;  // stacked name -> expert -> HF name
  for (const std::string& name : store.names()) {
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;
    const tensor_view& t = store.get(name);
    if (auto slot = gguf_expert_slot(arch, name)) {
      if (!stacks[slot->gguf_name].emplace(slot->expert, name).second)
        fail(t.source + ": tensor '" + name + "'", "duplicate expert");
      continue;
    }
    if (arch.family == gguf_family::gpt_oss) {
      bool done = false;
      for (const char* what : {"gate_up_proj", "gate_up_proj_bias", "down_proj"})
        if (auto layer = match_layer_pattern(std::string("model.layers.{}.mlp.experts.") + what, name)) {
          write_gpt_oss_experts(out, *layer, what, t);
          done = true;
        }
      if (done) continue;
    }
    if (arch.family == gguf_family::deepseek2)
      if (auto layer = match_layer_pattern("model.layers.{}.self_attn.kv_b_proj.weight", name)) {
        write_kv_b(out, *layer, t);
        continue;
      }
    const auto gguf_name = gguf_tensor_name(arch, name);
    if (!gguf_name)
      fail(t.source + ": tensor '" + name + "'", "has no GGUF name",
           "owl maps the tensors of the " + std::string(arch.hf_name) + " checkpoints it runs");
    if (t.shape.empty() || t.shape.size() > 3) fail(t.source + ": tensor '" + name + "'", "expected 1 to 3 dimensions");
    std::vector<float> values = decode_rows(t);
    // llama.cpp folds Gemma's (1 + w) and Nemotron's LayerNorm1P into plain weights.
    if (arch.norm_plus_one && t.shape.size() == 1 && is_norm_weight(name))
      for (float& x : values) x += 1.0f;
    const int64_t cols = t.shape.back();
    std::vector<int64_t> order;
    const bool is_q = name.ends_with("q_proj.weight"), is_k = name.ends_with("k_proj.weight");
    if (arch.interleaved_qk && (is_q || is_k)) {
      order = interleave_rows(is_q ? c.heads : c.kv_heads, c.head_dim);
    } else if (arch.family == gguf_family::gpt_neox && gguf_name->ends_with("attn_qkv.weight")) {
      order = neox_qkv_rows(c.heads, c.head_dim);
    } else if (arch.family == gguf_family::gpt_neox && gguf_name->ends_with("attn_qkv.bias")) {
      order = neox_qkv_rows(c.heads, c.head_dim);
      check_shape(t, {int64_t(order.size())});
      std::vector<float> permuted(order.size());
      for (size_t r = 0; r < order.size(); ++r) permuted[r] = values[size_t(order[r])];
      values.swap(permuted);
      order.clear();
    }
    if (!order.empty()) {
      check_shape(t, {int64_t(order.size()), cols});
      auto bytes = gather_rows(reinterpret_cast<const std::byte*>(values.data()), size_t(cols) * 4, order);
      std::memcpy(values.data(), bytes.data(), bytes.size());
    }
    out.put(*gguf_name, values, t.shape);
  }
  for (const auto& [gguf_name, experts] : stacks) {
    const tensor_view& first = store.get(experts.begin()->second);
    std::vector<float> all;
    int64_t next = 0;
    for (const auto& [e, hf] : experts) {
      const tensor_view& t = store.get(hf);
      if (e != next++) fail(t.source + ": tensor '" + hf + "'", "experts are not numbered 0.." + std::to_string(experts.size() - 1));
      check_shape(t, first.shape);
      const auto v = decode_rows(t);
      all.insert(all.end(), v.begin(), v.end());
    }
    if (first.shape.size() != 2) fail(first.source + ": tensor '" + first.name + "'", "expected an expert matrix");
    out.put(gguf_name, all, {int64_t(experts.size()), first.shape[0], first.shape[1]});
  }
}

}  // namespace owl
