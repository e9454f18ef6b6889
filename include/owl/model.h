// owl/model.h — loading a model folder and running the forward pass.
//
// A model is loaded once (weights mmap'd, names and layouts normalized) and shared; each
// sequence being decoded has its own session holding its KV cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "owl/dtype.h"
#include "owl/sampler.h"

namespace owl {

struct load_options {
  int threads = 0;               // 0 = all cores
  // Element type of the KV cache: f32 (exact, the default) or f16 (half the memory, as
  // llama.cpp's default; attention reads it back widened to float32).
  dtype kv_type = dtype::f32;
  // Let the backend rewrite weights at load into the layout it multiplies fastest (the CPU
  // interleaves Q4_0, Q8_0, IQ4_NL, Q4_K, F16, BF16 and F32 rows in groups of 8; results are bitwise
  // unchanged). The rewritten weights become this process's own memory in place of the file's
  // shared page cache; false uses every weight from the mapping as the file stores it
  // (several processes then share one file's pages).
  bool repack_weights = true;
};

// What a user may want to know about a loaded model (see `owl show` later).
struct model_info {
  std::string architecture;      // HF name, e.g. "LlamaForCausalLM"
  std::filesystem::path dir;
  int64_t vocab_size = 0;
  int64_t context_length = 0;    // max_position_embeddings
  int64_t hidden_size = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  std::string stored_dtype;      // "F32", "BF16", ... of the embedding
  int64_t total_parameters = 0;  // every tensor of the checkpoint
  int64_t active_parameters = 0; // used per token (MoE: only the routed experts that run)
  int64_t experts = 0;           // routed experts per MoE layer (0: dense model)
  int64_t experts_per_token = 0;
  int64_t weight_bytes = 0;      // as stored
  int64_t repacked_bytes = 0;    // of which the backend rewrote into its own layout at load
  int64_t kv_bytes_per_token = 0;  // KV cache, all layers, in load_options::kv_type
};

// Defaults from generation_config.json (or sensible ones when it is absent).
struct generation_defaults {
  std::vector<int32_t> eos_ids;   // generation stops at any of these
  std::optional<int32_t> bos_id;
  sampling_params sampling;       // do_sample=false -> temperature 0
};

class session;

// One sequence's share of a batched forward pass (model::forward_batch).
struct batch_item {
  session* sequence = nullptr;            // a session of the same model
  std::span<const int32_t> tokens;        // at least one
  bool all_logits = false;
};

class model {
 public:
  // dir: a Hugging Face model folder (config.json, *.safetensors, optional
  // generation_config.json) or a GGUF file. Throws owl::error on any defect.
  static std::shared_ptr<model> load(const std::filesystem::path& dir, const load_options& options = {});
  virtual ~model() = default;

  virtual const model_info& info() const = 0;
  virtual const generation_defaults& defaults() const = 0;
  // A fresh sequence able to hold max_tokens tokens (0 = the model's context length).
  virtual std::unique_ptr<session> new_session(int64_t max_tokens = 0) = 0;
  // Runs several sequences in one pass: the linear layers see all their tokens together (one
  // read of the weights per step for a whole batch of decoding sequences); each attends only
  // over its own cache. Returns each item's logits as session::forward would; every row is
  // computed exactly as it would be alone. Checks every item before running any.
  virtual std::vector<std::span<const float>> forward_batch(std::span<const batch_item> items) = 0;
};

// One sequence: the KV cache and the number of tokens already in it.
class session {
 public:
  virtual ~session() = default;
  // Runs tokens at positions [n_past, n_past + n). Returns logits [vocab] of the last token,
  // or [n, vocab] when all_logits is set. The span stays valid until the next call.
  // Throws owl::error when the tokens do not fit the session's capacity or an id is out of range.
  virtual std::span<const float> forward(std::span<const int32_t> tokens, bool all_logits = false) = 0;
  virtual int64_t n_past() const = 0;
  virtual int64_t capacity() const = 0;
  virtual void reset() = 0;  // forget all tokens (keeps the memory)
};

}  // namespace owl

namespace owl {
class tokenizer;
// The tokenizer of a model folder (tokenizer.json) or of a GGUF file (tokenizer.ggml.*).
std::unique_ptr<tokenizer> load_tokenizer(const std::filesystem::path& model);

// The bundled stories260K model: $OWL_MODEL when set, else models/stories260K of the source
// tree owl was built from.
std::filesystem::path default_model_dir();
}  // namespace owl
