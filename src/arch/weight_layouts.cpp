// weight_layouts.cpp — adopt_weight_layouts: each weight matrix is offered to the backend once
// at load (backend::adopt_weight), which may move it into a layout of its own.
#include <algorithm>
#include <vector>

#include "arch/weights.h"

namespace owl {
namespace {

struct matrix_use {
  weight_matrix* m;
  bool multiplied;  // a matmul reads it (the embedding is only looked up)
  const std::byte* begin() const { return m->data; }
  const std::byte* end() const { return m->data + dtype_row_bytes(m->type, m->cols) * size_t(m->rows); }
  bool same_matrix(const matrix_use& o) const {
    return begin() == o.begin() && m->type == o.m->type && m->rows == o.m->rows && m->cols == o.m->cols;
  }
};

std::vector<matrix_use> every_matrix(model_weights& w) {
  std::vector<matrix_use> uses;
  const auto add = [&](weight_matrix& m) {
    if (m.data && m.rows > 0 && m.cols > 0) uses.push_back({&m, true});
  };
  const auto add_mlp = [&](mlp_weights& mlp) {
    add(mlp.gate.w);
    add(mlp.up.w);
    add(mlp.down.w);
  };
  for (layer_weights& l : w.layers) {
    attention_weights& a = l.attn;
    for (linear_weights* linear : {&a.q, &a.k, &a.v, &a.o, &a.q_a, &a.q_b, &a.kv_a}) add(linear->w);
    for (weight_matrix& m : a.k_absorb) add(m);
    for (weight_matrix& m : a.v_up) add(m);
    add_mlp(l.mlp);
    add(l.moe.router.w);
    for (mlp_weights& e : l.moe.experts) add_mlp(e);
    add_mlp(l.moe.shared);
  }
  add(w.lm_head.w);
  if (w.embed.data) uses.push_back({&w.embed, false});
  return uses;
}

}  // namespace

int64_t adopt_weight_layouts(model_weights& w, const weight_store& store, backend& compute) {
  int64_t adopted = 0;
  std::vector<matrix_use> uses = every_matrix(w);
  std::sort(uses.begin(), uses.end(), [](const matrix_use& a, const matrix_use& b) {
    return a.begin() != b.begin() ? a.begin() < b.begin() : a.end() < b.end();
  });
  // Runs of the same matrix (tied embeddings: the output layer and the lookup table) adopt one
  // layout together. A matrix whose bytes partly overlap another's — only a malformed file
  // does that — keeps the file's layout, as does everything it overlaps.
  const std::byte* reach = nullptr;  // end of the bytes covered by the runs before
  for (size_t i = 0; i < uses.size();) {
    size_t j = i + 1;
    while (j < uses.size() && uses[j].same_matrix(uses[i])) ++j;
    const bool overlaps_before = reach && uses[i].begin() < reach;
    const bool overlaps_after = j < uses.size() && uses[j].begin() < uses[i].end();
    reach = std::max(reach ? reach : uses[i].end(), uses[i].end());
    const bool multiplied = std::any_of(uses.begin() + ptrdiff_t(i), uses.begin() + ptrdiff_t(j),
                                        [](const matrix_use& u) { return u.multiplied; });
    if (!overlaps_before && !overlaps_after && multiplied) {
      weight_matrix& first = *uses[i].m;
      const int64_t bytes = uses[i].end() - uses[i].begin();
      // Bytes outside the store's file mappings are buffers of the model's own (rebuilt or
      // gathered tensors), which the backend may rewrite in place.
      compute.adopt_weight(first, store.is_mapped(first.data) ? nullptr : const_cast<std::byte*>(first.data));
      for (size_t k = i + 1; k < j; ++k) {
        uses[k].m->data = first.data;
        uses[k].m->layout = first.layout;
      }
      if (first.layout != weight_layout::rows) adopted += bytes;
    }
    i = j;
  }
  return adopted;
}

}  // namespace owl
