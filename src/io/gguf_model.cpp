#include "io/gguf_model.h"

#include <cstring>
#include <fstream>

#include "arch/model_config.h"
#include "arch/rope.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/gguf_arch_map.h"
#include "io/gguf_layout.h"
#include "io/json_fields.h"
#include "owl/error.h"
#include "owl/tokenizer.h"
#include "quant/quant.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

// Keeps a GGUF mapping and the tensors rebuilt from it alive as long as the weight store.
struct gguf_weights {
  std::shared_ptr<gguf_file> file;
  std::vector<std::vector<std::byte>> rebuilt;
};

// llama.cpp's converter stores Llama 3.1's rope scaling only as per-pair divisors of the base
// frequencies (rope_freqs.weight, [rotary_dim / 2]). owl's own files also carry the exact
// parameters (owl.rope_scaling), which win: there the tensor is for llama.cpp alone.
void read_rope_freqs(const gguf_file& file, rope_config& rope) {
  const gguf_tensor_info* t = file.find_tensor("rope_freqs.weight");
  if (!t || file.reader().find("owl.rope_scaling")) return;
  const std::string where = file.path().string() + ": tensor 'rope_freqs.weight'";
  if (t->ggml_type != ggml_types::f32 && t->ggml_type != ggml_types::f16) {
    const ggml_type_traits* info = ggml_type_info(t->ggml_type);
    fail(where, "expected F32 or F16 factors, found " + (info ? std::string(info->name) : std::to_string(t->ggml_type)),
         "llama.cpp writes rope_freqs as F32");
  }
  if (t->shape.size() != 1)
    fail(where, "expected a 1-D tensor of rotary_dim / 2 factors, found " + std::to_string(t->shape.size()) + " dimensions",
         "llama.cpp writes rope_freqs as ne = [rotary_dim / 2]");
  std::vector<float> factors(size_t(t->shape[0]));
  for (size_t i = 0; i < factors.size(); ++i) {
    if (t->ggml_type == ggml_types::f32) {
      std::memcpy(&factors[i], t->data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t->data + 2 * i, 2);
      factors[i] = f16_to_f32(h);
    }
  }
  set_rope_freq_factors(rope, std::move(factors), where);
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
  auto owner = std::make_shared<gguf_weights>();
  owner->file = gguf_file::open(path);
  const gguf_arch& arch = gguf_arch_for_file(*owner->file);
  nlohmann::json config = read_gguf_model_config(arch, *owner->file);
  nlohmann::json generation;
  if (config.contains("bos_token_id")) generation["bos_token_id"] = config["bos_token_id"];
  if (config.contains("eos_token_id")) generation["eos_token_id"] = config["eos_token_id"];
  std::vector<tensor_view> views = read_gguf_tensors(arch, config, *owner->file, owner->rebuilt);
  gguf_model_source source;
  source.config = parse_model_config(config, path.string() + " (GGUF metadata)");
  // The global rope only: llama.cpp scales no local (sliding-window) base with these factors.
  read_rope_freqs(*owner->file, source.config.ropes[0]);
  source.generation_config = std::move(generation);
  source.store = weight_store::from_views(std::move(views), owner, path, {owner->file->mapped_bytes()});
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

void convert_to_gguf(const fs::path& hf_dir, const fs::path& out, const gguf_convert_options& options) {
  const fs::path config_path = hf_dir / "config.json";
  const nlohmann::json raw = parse_json(read_text_file(config_path, 16 << 20), config_path.string());
  const model_config config = parse_model_config(raw, config_path.string());
  const gguf_arch& arch = gguf_arch_for_hf(config.arch->hf_name, config_path.string());
  auto store = weight_store::open_dir(hf_dir);

  gguf_writer writer;
  write_gguf_model_metadata(arch, raw, config, writer, config_path.string());
  writer.set("general.name", hf_dir.filename().string());
  if (config.ropes[0].kind == rope_kind::llama3) {
    // llama.cpp applies Llama 3.1's scaling as per-frequency divisors of the base frequencies.
    rope_config plain = config.ropes[0];
    plain.kind = rope_kind::standard;
    const auto base = rope_inv_freq(plain, 1), scaled = rope_inv_freq(config.ropes[0], 1);
    std::vector<float> factors(base.size());
    for (size_t i = 0; i < base.size(); ++i) factors[i] = base[i] / scaled[i];
    std::vector<std::byte> bytes(factors.size() * 4);
    std::memcpy(bytes.data(), factors.data(), bytes.size());
    writer.add_tensor("rope_freqs.weight", ggml_types::f32, {int64_t(factors.size())}, std::move(bytes));
  }
  // Fixture-style folders may carry no tokenizer; the model is still complete without one.
  if (fs::exists(hf_dir / "tokenizer.json")) tokenizer_to_gguf(hf_dir, writer);
  write_gguf_tensors(arch, config, *store, options, writer);
  writer.write(out);
}

void quantize_gguf(const fs::path& in, const fs::path& out, const gguf_convert_options& options) {
  auto file = gguf_file::open(in);
  const std::string& arch_name = file->get_string("general.architecture");
  const uint64_t layers = file->get_u64(arch_name + ".block_count");
  const int64_t experts =
      int64_t(std::min<uint64_t>(file->reader().find_u64(arch_name + ".expert_count").value_or(0), 1u << 20));
  const bool has_output = file->find_tensor("output.weight") != nullptr;  // else token_embd is the output too
  gguf_writer writer;
  for (const auto& [key, value] : file->metadata())
    if (key != "general.alignment") writer.set(key, value);
  for (const gguf_tensor_info& t : file->tensors()) {
    const auto type = dtype_from_ggml(t.ggml_type);
    // Matrices and stacked experts; the router stays F32 (see gguf_layout.cpp).
    const bool matrix = (t.shape.size() == 2 || t.shape.size() == 3) && t.name.ends_with(".weight") &&
                        !t.name.ends_with("ffn_gate_inp.weight") && type;
    if (!matrix) {  // norms, biases, rope factors: as they are
      writer.add_tensor(t.name, t.ggml_type, t.shape, std::span<const std::byte>(t.data, t.nbytes));
      continue;
    }
    tensor_view v;
    v.name = t.name;
    v.type = *type;
    v.shape.assign(t.shape.rbegin(), t.shape.rend());
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.source = in.string();
    const dtype target = choose_gguf_type(
        options, t.name, {.cols = t.shape[0], .layers = int64_t(layers), .has_output = has_output, .experts = experts});
    writer.add_tensor(t.name, ggml_from_dtype(target), t.shape,
                      encode_rows(decode_rows(v), t.numel() / t.shape[0], t.shape[0], target));
  }
  writer.write(out);
}

}  // namespace owl
