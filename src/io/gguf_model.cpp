#include "io/gguf_model.h"

#include <array>
#include <cstring>
#include <fstream>

#include "arch/model_config.h"
#include "arch/rope.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/json_fields.h"
#include "owl/error.h"
#include "owl/tokenizer.h"
#include "quant/quant.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

// Architectures with a GGUF mapping. llama.cpp writes Llama-family q/k rows with rotary pairs
// interleaved (its "normal" rope), so those are permuted on the way in and out.
struct gguf_arch {
  std::string_view hf_name;
  std::string_view gguf_name;
  bool interleaved_qk;
};
constexpr std::array<gguf_arch, 4> gguf_archs{{
    {"LlamaForCausalLM", "llama", true},
    {"MistralForCausalLM", "llama", true},
    {"Qwen2ForCausalLM", "qwen2", false},
    {"Qwen3ForCausalLM", "qwen3", false},
}};

// Hugging Face name <-> GGUF name; "{}" is the layer index.
constexpr std::array<std::pair<std::string_view, std::string_view>, 18> tensor_map{{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.{}.input_layernorm.weight", "blk.{}.attn_norm.weight"},
    {"model.layers.{}.post_attention_layernorm.weight", "blk.{}.ffn_norm.weight"},
    {"model.layers.{}.self_attn.q_proj.weight", "blk.{}.attn_q.weight"},
    {"model.layers.{}.self_attn.q_proj.bias", "blk.{}.attn_q.bias"},
    {"model.layers.{}.self_attn.k_proj.weight", "blk.{}.attn_k.weight"},
    {"model.layers.{}.self_attn.k_proj.bias", "blk.{}.attn_k.bias"},
    {"model.layers.{}.self_attn.v_proj.weight", "blk.{}.attn_v.weight"},
    {"model.layers.{}.self_attn.v_proj.bias", "blk.{}.attn_v.bias"},
    {"model.layers.{}.self_attn.o_proj.weight", "blk.{}.attn_output.weight"},
    {"model.layers.{}.self_attn.q_norm.weight", "blk.{}.attn_q_norm.weight"},
    {"model.layers.{}.self_attn.k_norm.weight", "blk.{}.attn_k_norm.weight"},
    {"model.layers.{}.mlp.gate_proj.weight", "blk.{}.ffn_gate.weight"},
    {"model.layers.{}.mlp.up_proj.weight", "blk.{}.ffn_up.weight"},
    {"model.layers.{}.mlp.down_proj.weight", "blk.{}.ffn_down.weight"},
    {"model.layers.{}.self_attn.o_proj.bias", "blk.{}.attn_output.bias"},
}};

// Matches `name` against a pattern with one optional "{}" (digits); returns the layer or -1
// for a pattern without one; nullopt when it does not match.
std::optional<int64_t> match_pattern(std::string_view pattern, std::string_view name) {
  const size_t hole = pattern.find("{}");
  if (hole == std::string_view::npos) return pattern == name ? std::optional<int64_t>(-1) : std::nullopt;
  const std::string_view prefix = pattern.substr(0, hole), suffix = pattern.substr(hole + 2);
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  int64_t layer = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    layer = layer * 10 + (c - '0');
  }
  return layer;
}

// Maps a name through the table, from the `from` side (0 = HF, 1 = GGUF) to the other.
std::optional<std::string> map_name(std::string_view name, int from) {
  for (const auto& entry : tensor_map) {
    const std::string_view source = from == 0 ? entry.first : entry.second;
    const std::string_view target = from == 0 ? entry.second : entry.first;
    if (auto layer = match_pattern(source, name)) {
      std::string out(target);
      if (*layer >= 0) out.replace(out.find("{}"), 2, std::to_string(*layer));
      return out;
    }
  }
  return std::nullopt;
}

const gguf_arch* arch_by_gguf_name(std::string_view name) {
  for (const auto& a : gguf_archs)
    if (a.gguf_name == name) return &a;
  return nullptr;
}

const gguf_arch& arch_by_hf_name(std::string_view name, const std::string& where) {
  for (const auto& a : gguf_archs)
    if (a.hf_name == name) return a;
  fail(where, "no GGUF mapping for architecture '" + std::string(name) + "'",
       "owl writes and reads GGUF for Llama, Mistral, Qwen2 and Qwen3 models");
}

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

// Row order between rotate-half (Hugging Face) and interleaved (llama.cpp) q/k layouts.
std::vector<int64_t> interleave_rows(int64_t heads, int64_t head_dim, bool to_interleaved) {
  std::vector<int64_t> rows(size_t(heads * head_dim));
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t interleaved = h * head_dim + 2 * i + j, halves = h * head_dim + j * half + i;
        rows[size_t(to_interleaved ? interleaved : halves)] = to_interleaved ? halves : interleaved;
      }
  return rows;
}

}  // namespace

bool is_gguf_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

gguf_model_source read_gguf_model(const fs::path& path) {
  std::shared_ptr<gguf_file> file = gguf_file::open(path);
  const gguf_metadata_reader& meta = file->reader();
  const std::string& arch_name = meta.get_string("general.architecture");
  const gguf_arch* arch = arch_by_gguf_name(arch_name);
  if (!arch)
    fail(meta.where("general.architecture"), "unsupported GGUF architecture '" + arch_name + "'",
         "owl reads GGUF models of the llama, qwen2 and qwen3 architectures");
  const std::string p = arch_name + ".";
  auto find_f64 = [&](const std::string& key) -> std::optional<double> {
    const gguf_value* v = meta.find(key);
    return v ? v->as_f64() : std::nullopt;
  };

  nlohmann::json config;
  config["architectures"] = {std::string(arch->hf_name)};
  config["hidden_size"] = meta.get_u64(p + "embedding_length");
  config["intermediate_size"] = meta.get_u64(p + "feed_forward_length");
  config["num_hidden_layers"] = meta.get_u64(p + "block_count");
  config["num_attention_heads"] = meta.get_u64(p + "attention.head_count");
  config["num_key_value_heads"] = meta.find_u64(p + "attention.head_count_kv").value_or(meta.get_u64(p + "attention.head_count"));
  config["max_position_embeddings"] = meta.get_u64(p + "context_length");
  if (auto eps = find_f64(p + "attention.layer_norm_rms_epsilon")) config["rms_norm_eps"] = *eps;
  if (auto theta = find_f64(p + "rope.freq_base")) config["rope_theta"] = *theta;
  if (auto key_length = meta.find_u64(p + "attention.key_length")) config["head_dim"] = *key_length;
  const gguf_array* tokens = meta.find_array("tokenizer.ggml.tokens");
  config["vocab_size"] = meta.find_u64(p + "vocab_size").value_or(tokens ? tokens->items.size() : 0);
  config["tie_word_embeddings"] = file->find_tensor("output.weight") == nullptr;
  config["attention_bias"] = arch->hf_name == "LlamaForCausalLM" && file->find_tensor("blk.0.attn_q.bias") != nullptr;
  config["rope_interleave"] = arch->interleaved_qk;
  // Mistral is "llama" in GGUF; its sliding window (which llama.cpp ignores) says it apart.
  if (auto window = meta.find_u64(p + "attention.sliding_window"); window && arch->gguf_name == "llama") {
    config["architectures"] = {"MistralForCausalLM"};
    config["sliding_window"] = *window;
  }
  if (const std::string* scaling = meta.find_string("owl.rope_scaling")) {
    config["rope_scaling"] = parse_json(*scaling, meta.where("owl.rope_scaling"));
  } else if (const std::string* type = meta.find_string(p + "rope.scaling.type"); type && *type != "none") {
    if (*type != "linear")
      fail(meta.where(p + "rope.scaling.type"), "unsupported rope scaling '" + *type + "' in GGUF", "owl reads linear");
    config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", find_f64(p + "rope.scaling.factor").value_or(1.0)}};
  } else if (file->find_tensor("rope_freqs.weight")) {
    fail(path.string() + ": tensor 'rope_freqs.weight'", "per-frequency rope factors without their parameters",
         "convert the model from its Hugging Face folder with `owl convert`");
  }
  nlohmann::json generation;
  if (auto bos = meta.find_u64("tokenizer.ggml.bos_token_id")) config["bos_token_id"] = generation["bos_token_id"] = *bos;
  if (auto eos = meta.find_u64("tokenizer.ggml.eos_token_id")) config["eos_token_id"] = generation["eos_token_id"] = *eos;

  std::vector<tensor_view> views;
  for (const gguf_tensor_info& t : file->tensors()) {
    if (t.name == "rope_freqs.weight") continue;  // derived from owl.rope_scaling
    const auto type = dtype_from_ggml(t.ggml_type);
    if (!type)
      fail(path.string() + ": tensor '" + t.name + "'", "GGUF type " + std::to_string(t.ggml_type) + " cannot be computed with",
           "owl computes with F32, F16, BF16, Q4_0..Q8_0, Q2_K..Q8_K, IQ4_NL and IQ4_XS");
    tensor_view v;
    v.name = map_name(t.name, 1).value_or(t.name);  // unmapped names are reported as unused
    v.type = *type;
    v.shape.assign(t.shape.rbegin(), t.shape.rend());  // ggml lists the row length first
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.source = path.string();
    views.push_back(std::move(v));
  }
  gguf_model_source source;
  source.config = std::move(config);
  source.generation_config = std::move(generation);
  source.store = weight_store::from_views(std::move(views), file, path);
  return source;
}

gguf_convert_options parse_gguf_type(const std::string& name) {
  gguf_convert_options o;
  std::string upper;
  for (char c : name) upper += char(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "Q4_K_M" || upper == "Q5_K_M") {
    o.mix = upper;
    o.type = upper == "Q4_K_M" ? dtype::q4_k : dtype::q5_k;
    return o;
  }
  if (upper == "F32") o.type = dtype::f32;
  else if (upper == "F16") o.type = dtype::f16;
  else if (upper == "BF16") o.type = dtype::bf16;
  else if (auto q = quant::from_name(upper); q && *q != quant::qtype::q8_1 && *q != quant::qtype::q8_k)
    o.type = dtype(size_t(dtype::q4_0) + size_t(*q));
  else
    fail("type '" + name + "'", "unknown GGUF output type",
         "use F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, Q4_K_M or Q5_K_M");
  return o;
}

namespace {

// The type a 2-D weight gets: the requested one, adjusted by llama.cpp's K-quant mixes (more
// bits for attn_v, ffn_down in some layers, and the output), and F16 where rows do not split
// into whole blocks.
dtype choose_type(const gguf_convert_options& o, const std::string& gguf_name, int64_t cols, int64_t layers) {
  dtype type = o.type;
  if (!o.mix.empty()) {
    auto layer = match_pattern("blk.{}.attn_v.weight", gguf_name);
    if (!layer) layer = match_pattern("blk.{}.ffn_down.weight", gguf_name);
    const auto more_bits = [&](int64_t i) { return i < layers / 8 || i >= 7 * layers / 8 || (i - layers / 8) % 3 == 2; };
    if (gguf_name == "output.weight" || (layer && more_bits(*layer))) type = dtype::q6_k;
  }
  if (cols % dtype_block_size(type) != 0) type = dtype::f16;
  return type;
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
    if (t.type == dtype::f32 || t.type == dtype::f16 || t.type == dtype::bf16) {
      for (int64_t i = 0; i < cols; ++i) {
        const std::byte* p = t.data + size_t(r) * row_bytes;
        if (t.type == dtype::f32) std::memcpy(&out[size_t(r * cols + i)], p + 4 * i, 4);
        else {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[size_t(r * cols + i)] = t.type == dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
      }
    } else if (is_quantized(t.type)) {
      quant::dequantize_row(quant::qtype(size_t(t.type) - size_t(dtype::q4_0)), t.data + size_t(r) * row_bytes,
                            out.data() + r * cols, cols);
    } else {
      fail(t.source + ": tensor '" + t.name + "'", "type " + std::string(dtype_name(t.type)) + " is not a float weight");
    }
  }
  return out;
}

// Adds one tensor (given under its Hugging Face name, as floats) in GGUF form.
void add_tensor(gguf_writer& writer, const std::string& hf_name, const tensor_view& t, const model_config& config,
                const gguf_arch& arch, const gguf_convert_options& o) {
  const auto gguf_name = map_name(hf_name, 0);
  if (!gguf_name)
    fail(t.source + ": tensor '" + hf_name + "'", "has no GGUF name", "owl maps the Llama/Qwen tensor names only");
  std::vector<float> values = decode_rows(t);
  if (t.shape.size() == 1) {
    writer.add_tensor(*gguf_name, ggml_types::f32, {t.shape[0]}, encode_rows(values, 1, t.shape[0], dtype::f32));
    return;
  }
  if (t.shape.size() != 2) fail(t.source + ": tensor '" + hf_name + "'", "expected a matrix or a vector");
  const int64_t rows = t.shape[0], cols = t.shape[1];
  // llama.cpp's Llama layout interleaves rotary pairs within each head of q and k.
  const bool is_q = hf_name.ends_with("q_proj.weight"), is_k = hf_name.ends_with("k_proj.weight");
  if (arch.interleaved_qk && (is_q || is_k)) {
    const auto order = interleave_rows(is_q ? config.heads : config.kv_heads, config.head_dim, true);
    std::vector<float> permuted(values.size());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(&permuted[size_t(r * cols)], &values[size_t(order[size_t(r)] * cols)], size_t(cols) * 4);
    values.swap(permuted);
  }
  const dtype type = choose_type(o, *gguf_name, cols, config.layers);
  writer.add_tensor(*gguf_name, ggml_from_dtype(type), {cols, rows}, encode_rows(values, rows, cols, type));
}

}  // namespace

void convert_to_gguf(const fs::path& hf_dir, const fs::path& out, const gguf_convert_options& options) {
  const fs::path config_path = hf_dir / "config.json";
  const nlohmann::json raw = parse_json(read_text_file(config_path, 16 << 20), config_path.string());
  const model_config config = parse_model_config(raw, config_path.string());
  const gguf_arch& arch = arch_by_hf_name(config.arch->hf_name, config_path.string());
  if (arch.interleaved_qk && config.ropes[0].rotary_dim != config.head_dim)
    fail(config_path.string(), "partial rotary dims cannot be written in llama.cpp's Llama layout");
  auto store = weight_store::open_dir(hf_dir);

  gguf_writer writer;
  const std::string p = std::string(arch.gguf_name) + ".";
  writer.set("general.architecture", std::string(arch.gguf_name));
  writer.set("general.name", hf_dir.filename().string());
  writer.set(p + "context_length", uint32_t(config.max_positions));
  writer.set(p + "embedding_length", uint32_t(config.hidden_size));
  writer.set(p + "feed_forward_length", uint32_t(config.intermediate_size));
  writer.set(p + "block_count", uint32_t(config.layers));
  writer.set(p + "attention.head_count", uint32_t(config.heads));
  writer.set(p + "attention.head_count_kv", uint32_t(config.kv_heads));
  writer.set(p + "attention.layer_norm_rms_epsilon", float(config.norm_eps));
  writer.set(p + "rope.freq_base", float(config.ropes[0].theta));
  writer.set(p + "rope.dimension_count", uint32_t(config.ropes[0].rotary_dim));
  writer.set(p + "vocab_size", uint32_t(config.vocab_size));
  if (!config.layer.empty() && config.layer[0].window > 0) {
    for (const layer_config& l : config.layer)
      if (l.window != config.layer[0].window)
        fail(config_path.string(), "per-layer sliding windows cannot be written to GGUF yet");
    writer.set(p + "attention.sliding_window", uint32_t(config.layer[0].window));
  }
  if (config.head_dim * config.heads != config.hidden_size) {
    writer.set(p + "attention.key_length", uint32_t(config.head_dim));
    writer.set(p + "attention.value_length", uint32_t(config.head_dim));
  }
  if (raw.contains("rope_scaling") && !raw["rope_scaling"].is_null()) {
    // owl reads its exact parameters back; llama.cpp reads the linear factor or the
    // per-frequency factors (Llama 3.1) as rope_freqs.
    writer.set("owl.rope_scaling", raw["rope_scaling"].dump());
    if (config.ropes[0].kind == rope_kind::linear) {
      writer.set(p + "rope.scaling.type", std::string("linear"));
      writer.set(p + "rope.scaling.factor", float(config.ropes[0].factor));
    } else if (config.ropes[0].kind == rope_kind::llama3) {
      rope_config plain = config.ropes[0];
      plain.kind = rope_kind::standard;
      const auto base = rope_inv_freq(plain, 1), scaled = rope_inv_freq(config.ropes[0], 1);
      std::vector<float> factors(base.size());
      for (size_t i = 0; i < base.size(); ++i) factors[i] = base[i] / scaled[i];
      std::vector<std::byte> bytes(factors.size() * 4);
      std::memcpy(bytes.data(), factors.data(), bytes.size());
      writer.add_tensor("rope_freqs.weight", ggml_types::f32, {int64_t(factors.size())}, std::move(bytes));
    } else {
      fail(config_path.string() + ": field 'rope_scaling'", "this rope scaling cannot be written to GGUF yet");
    }
  }
  // Fixture-style folders may carry no tokenizer; the model is still complete without one.
  if (fs::exists(hf_dir / "tokenizer.json")) tokenizer_to_gguf(hf_dir, writer);
  for (const std::string& name : store->names()) {
    if (config.tie_word_embeddings && name == "lm_head.weight") continue;
    add_tensor(writer, name, store->get(name), config, arch, options);
  }
  writer.write(out);
}

void quantize_gguf(const fs::path& in, const fs::path& out, const gguf_convert_options& options) {
  auto file = gguf_file::open(in);
  const std::string& arch_name = file->get_string("general.architecture");
  const uint64_t layers = file->get_u64(arch_name + ".block_count");
  gguf_writer writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment") writer.set(key, value);
  for (const gguf_tensor_info& t : file->tensors()) {
    const auto type = dtype_from_ggml(t.ggml_type);
    const bool matrix = t.shape.size() == 2 && t.name.ends_with(".weight") && type;
    if (!matrix) {  // norms, biases, rope factors: as they are
      writer.add_tensor(t.name, t.ggml_type, t.shape, std::span<const std::byte>(t.data, t.nbytes));
      continue;
    }
    tensor_view v;
    v.name = t.name;
    v.type = *type;
    v.shape = {t.shape[1], t.shape[0]};
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.source = in.string();
    const dtype target = choose_type(options, t.name, t.shape[0], int64_t(layers));
    writer.add_tensor(t.name, ggml_from_dtype(target), t.shape, encode_rows(decode_rows(v), t.shape[1], t.shape[0], target));
  }
  writer.write(out);
}

}  // namespace owl
