#include "arch/weight_binder.h"

#include <cstring>

#include "owl/error.h"

namespace owl {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::string tensor_name(std::string_view pattern, int64_t layer, int64_t expert) {
  std::string name(pattern);
  if (auto at = name.find("{}"); at != std::string::npos) name.replace(at, 2, std::to_string(layer));
  if (auto at = name.find("{e}"); at != std::string::npos) name.replace(at, 3, std::to_string(expert));
  return name;
}

const tensor_view& weight_binder::tensor(const std::string& name, const std::vector<int64_t>& shape,
                                         bool allow_quantized) {
  const tensor_view& t = store_.get(name);
  used_.insert(name);
  if (t.type != dtype::f32 && t.type != dtype::f16 && t.type != dtype::bf16 && !(allow_quantized && is_quantized(t.type)))
    fail(t.source + ": tensor '" + name + "'",
         "expected a float weight (F32, F16 or BF16), found " + std::string(dtype_name(t.type)));
  if (t.shape != shape)
    fail(t.source + ": tensor '" + name + "'",
         "expected shape " + shape_string(shape) + " from config.json, found " + shape_string(t.shape),
         "config.json and the weights disagree; is this the right config for the checkpoint?");
  return t;
}

std::vector<float> weight_binder::vector(const std::string& name, int64_t size) { return tensor(name, {size}).to_f32(); }

weight_matrix weight_binder::matrix(const std::string& name, int64_t rows, int64_t cols) {
  const tensor_view& t = tensor(name, {rows, cols}, true);
  return weight_matrix{t.type, t.data, rows, cols};
}

linear_weights weight_binder::linear(const std::string& name, int64_t out, int64_t in, bool bias) {
  linear_weights l{matrix(name + ".weight", out, in), {}};
  if (bias) l.bias = vector(name + ".bias", out);
  return l;
}

norm_weights weight_binder::norm(std::string_view pattern, int64_t layer, int64_t dim, norm_kind kind) {
  norm_weights n;
  if (pattern.empty()) return n;
  n.present = true;
  n.layer_norm = kind == norm_kind::layer || kind == norm_kind::layer_one_plus || kind == norm_kind::layer_no_affine;
  if (kind == norm_kind::layer_no_affine) return n;
  const std::string base = tensor_name(pattern, layer);
  n.weight = vector(base + ".weight", dim);
  // Gemma's RMSNorm and Nemotron's LayerNorm1P scale by (1 + w): fold the one in now.
  if (kind == norm_kind::rms_one_plus || kind == norm_kind::layer_one_plus)
    for (float& w : n.weight) w += 1.0f;
  if (n.layer_norm) n.bias = vector(base + ".bias", dim);
  return n;
}

std::byte* weight_binder::allocate(size_t bytes) {
  out_.owned.push_back(std::make_unique<std::byte[]>(bytes));
  return out_.owned.back().get();
}

weight_matrix weight_binder::gather_rows(const weight_matrix& m, const std::vector<int64_t>& rows) {
  const size_t row_bytes = dtype_row_bytes(m.type, m.cols);
  std::byte* data = allocate(rows.size() * row_bytes);
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(data + i * row_bytes, m.data + size_t(rows[i]) * row_bytes, row_bytes);
  return weight_matrix{m.type, data, int64_t(rows.size()), m.cols};
}

weight_matrix weight_binder::gather_columns(dtype type, const std::byte* src, int64_t rows, int64_t cols,
                                            const std::vector<int64_t>& columns) {
  if (is_quantized(type))
    fail("weights", "a " + std::string(dtype_name(type)) + " tensor cannot be transposed at load",
         "store this tensor as F32, F16 or BF16");
  const size_t element = dtype_size(type);
  std::byte* data = allocate(columns.size() * size_t(rows) * element);
  for (size_t i = 0; i < columns.size(); ++i)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(data + (i * size_t(rows) + size_t(r)) * element,
                  src + (size_t(r) * size_t(cols) + size_t(columns[i])) * element, element);
  return weight_matrix{type, data, int64_t(columns.size()), rows};
}

void weight_binder::reject_unused(const std::string& arch) const {
  for (const std::string& name : store_.names()) {
    if (used_.count(name)) continue;
    // Old checkpoints store precomputed rope frequencies and masks; they are derived from config.
    if (name.ends_with("rotary_emb.inv_freq") || name.ends_with("attention.bias") ||
        name.ends_with("attention.masked_bias"))
      continue;
    fail(store_.get(name).source + ": tensor '" + name + "'", "is not used by " + arch + " with this config.json",
         "the checkpoint does not match its config (e.g. biases, norms or experts the config does not declare)");
  }
}

std::vector<int64_t> rope_deinterleave_rows(int64_t groups, int64_t group, int64_t offset, int64_t rope_dim) {
  std::vector<int64_t> rows;
  rows.reserve(size_t(groups * group));
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t base = g * group;
    for (int64_t r = 0; r < offset; ++r) rows.push_back(base + r);
    for (int64_t i = 0; i < rope_dim / 2; ++i) rows.push_back(base + offset + 2 * i);
    for (int64_t i = 0; i < rope_dim / 2; ++i) rows.push_back(base + offset + 2 * i + 1);
    for (int64_t r = offset + rope_dim; r < group; ++r) rows.push_back(base + r);
  }
  return rows;
}

}  // namespace owl
