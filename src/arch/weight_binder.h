// weight_binder.h — looks checkpoint tensors up by name, checks them, and rewrites layouts
// once (row splits, permutations, transposes) into buffers the model owns.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "arch/weights.h"

namespace owl {

// "model.layers.{}.mlp" with layer 3 -> "model.layers.3.mlp"; "{e}" takes the expert index.
std::string tensor_name(std::string_view pattern, int64_t layer, int64_t expert = -1);

class weight_binder {
 public:
  weight_binder(const weight_store& store, model_weights& out) : store_(store), out_(out) {}

  bool has(const std::string& name) const { return store_.find(name) != nullptr; }
  // The tensor, which must exist, be a float type and have exactly `shape`.
  // Block-quantized types are accepted only where `allow_quantized` (matrices the matmul reads).
  const tensor_view& tensor(const std::string& name, const std::vector<int64_t>& shape, bool allow_quantized = false);
  std::vector<float> vector(const std::string& name, int64_t size);
  weight_matrix matrix(const std::string& name, int64_t rows, int64_t cols);
  // name + ".weight" and, when `bias`, name + ".bias".
  linear_weights linear(const std::string& name, int64_t out, int64_t in, bool bias);
  // A norm of the model's kind; constants (1 + w) folded in. An empty name: no norm.
  norm_weights norm(std::string_view pattern, int64_t layer, int64_t dim, norm_kind kind);

  // New matrix [rows.size(), m.cols] from the given rows of m, in m's dtype.
  weight_matrix gather_rows(const weight_matrix& m, const std::vector<int64_t>& rows);
  // New matrix [columns.size(), rows] whose row i is column columns[i] of the row-major
  // matrix `data` [rows, cols] (a transpose that may pick and reorder columns).
  weight_matrix gather_columns(dtype type, const std::byte* data, int64_t rows, int64_t cols,
                               const std::vector<int64_t>& columns);

  // Every tensor of the checkpoint must have been used: a leftover means the checkpoint has a
  // feature (bias, norm, expert...) that this configuration would silently ignore.
  void reject_unused(const std::string& arch) const;

 private:
  std::byte* allocate(size_t bytes);
  const weight_store& store_;
  model_weights& out_;
  std::set<std::string, std::less<>> used_;
};

// Row order that turns interleaved rotary pairs (2i, 2i+1) into rotate-half pairs (i, i + d/2)
// for each group of `group` rows whose rotary part starts at `offset` and spans `rope_dim`.
std::vector<int64_t> rope_deinterleave_rows(int64_t groups, int64_t group, int64_t offset, int64_t rope_dim);

}  // namespace owl
