// owl/chat.h — chat templates (a sandboxed Jinja2 engine), and parsing what models emit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace owl {

// Limits for rendering an untrusted template. Exceeding one is an owl::error.
struct template_limits {
  int max_recursion_depth = 256;        // nested macro calls / includes of expressions
  int64_t max_loop_iterations = 1000000;  // all loops of one render together
  int64_t max_output_bytes = 16 << 20;
};

// Ordered JSON: templates print dicts (tool schemas, tool-call arguments) with tojson, and Python
// keeps keys in insertion order, so the order must survive (nlohmann::json sorts keys; it still
// converts implicitly, losing the order).
struct chat_render_options {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content, tool_calls?, reasoning_content?, ...}]
  nlohmann::ordered_json tools;                                       // null or a list of tool definitions
  bool add_generation_prompt = false;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();    // extra variables, e.g. {"enable_thinking": false}
};

class chat_template {
 public:
  // The model's template: chat_template.jinja, else tokenizer_config.json's chat_template
  // (a string, or a list of {name, template} where "default" is used). A folder without one
  // gets the documented ChatML fallback. bos/eos tokens come from tokenizer_config.json.
  static chat_template from_dir(const std::filesystem::path& dir);
  // from_dir for a folder; for a GGUF file, the template and bos/eos of its metadata
  // (tokenizer.chat_template), with the same ChatML fallback when it has none.
  static chat_template from_model(const std::filesystem::path& model);
  // Parses `source` (errors report line and column). `name` labels errors.
  static chat_template from_string(const std::string& source, const std::string& bos_token,
                                   const std::string& eos_token, const std::string& name = "chat_template");
  static const std::string& chatml_fallback();

  // Renders exactly what transformers' apply_chat_template renders (trim_blocks and
  // lstrip_blocks on, as HF sets them). strftime_now reads SOURCE_DATE_EPOCH when set.
  std::string render(const chat_render_options& options, const template_limits& limits = {}) const;

  const std::string& source() const;
  bool is_fallback() const;
  const std::string& bos_token() const;
  const std::string& eos_token() const;

  chat_template(const chat_template&);
  chat_template& operator=(const chat_template&);
  chat_template(chat_template&&) noexcept;
  chat_template& operator=(chat_template&&) noexcept;
  ~chat_template();

 private:
  chat_template();
  struct impl;
  std::unique_ptr<impl> impl_;
};

struct tool_call {
  std::string id;
  std::string name;
  nlohmann::ordered_json arguments;  // an object, keys in the order the model wrote them
};

// What an assistant turn contains once its raw text is parsed.
struct parsed_reply {
  std::string content;     // the answer, without reasoning or tool-call markup
  std::string reasoning;   // text inside <think>...</think> (empty if none)
  std::vector<tool_call> tool_calls;
};

// The tool-call syntaxes owl understands.
enum class tool_call_format { none, llama3_json, hermes, deepseek_v3, mistral };

// Guesses the format from the template source (markers such as <tool_call>, [TOOL_CALLS],
// <｜tool▁calls▁begin｜>, or Llama 3's ipython/"parameters" convention).
tool_call_format detect_tool_call_format(const std::string& template_source);

// Splits reasoning and tool calls out of raw model output. Malformed tool calls stay in the
// content as text; this never throws on model output.
parsed_reply parse_reply(const std::string& text, tool_call_format format);

}  // namespace owl
