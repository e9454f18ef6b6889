#include "arch/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace owl {
namespace {

// Indices of the k largest values, largest first; ties go to the lower index.
std::vector<int32_t> top_k_indices(std::span<const float> values, int64_t k) {
  std::vector<int32_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return values[size_t(a)] > values[size_t(b)] || (values[size_t(a)] == values[size_t(b)] && a < b);
  });
  order.resize(size_t(k));
  return order;
}

}  // namespace

void route_token(const moe_config& moe, std::span<const float> logits, std::span<const float> correction_bias,
                 expert_choice& choice) {
  const size_t n = logits.size();
  std::vector<float> scores(n);
  if (moe.scoring == router_scoring::softmax) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (size_t e = 0; e < n; ++e) sum += std::exp(double(logits[e] - max));
    for (size_t e = 0; e < n; ++e) scores[e] = float(std::exp(double(logits[e] - max)) / sum);
  } else {
    for (size_t e = 0; e < n; ++e) scores[e] = float(1.0 / (1.0 + std::exp(-double(logits[e]))));
  }

  // What the choice is made on: the scores, plus DeepSeek V3's load-balancing bias.
  std::vector<float> choice_scores = scores;
  if (!correction_bias.empty())
    for (size_t e = 0; e < n; ++e) choice_scores[e] += correction_bias[e];

  if (moe.groups > 1) {
    // Keep only the best `top_groups` groups; a group scores its best expert, or (V3) the sum
    // of its best two. Experts of other groups are masked to 0, as transformers does.
    const int64_t per_group = int64_t(n) / moe.groups;
    std::vector<float> group_scores(size_t(moe.groups));
    for (int64_t g = 0; g < moe.groups; ++g) {
      std::span<const float> members(choice_scores.data() + g * per_group, size_t(per_group));
      if (moe.group_score_top2_sum) {
        auto best = top_k_indices(members, 2);
        group_scores[size_t(g)] = members[size_t(best[0])] + members[size_t(best[1])];
      } else {
        group_scores[size_t(g)] = *std::max_element(members.begin(), members.end());
      }
    }
    const auto kept = top_k_indices(group_scores, moe.top_groups);
    for (int64_t g = 0; g < moe.groups; ++g)
      if (std::find(kept.begin(), kept.end(), int32_t(g)) == kept.end())
        std::fill_n(choice_scores.begin() + g * per_group, per_group, 0.0f);
  }

  choice.experts = top_k_indices(choice_scores, moe.top_k);
  choice.weights.resize(choice.experts.size());
  double total = 0;
  for (size_t i = 0; i < choice.experts.size(); ++i) {
    choice.weights[i] = scores[size_t(choice.experts[i])];
    total += choice.weights[i];
  }
  if (moe.normalize_top_k) {
    const double denominator = total + (moe.scoring == router_scoring::sigmoid ? 1e-20 : 0.0);
    for (float& w : choice.weights) w = float(w / denominator);
  }
  for (float& w : choice.weights) w = float(w * moe.scaling);
}

}  // namespace owl
