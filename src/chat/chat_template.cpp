// chat_template.cpp — owl::chat_template: finding a model's template and rendering it the way
// transformers' apply_chat_template does, on owl's sandboxed Jinja2 engine (src/chat/jinja).
#include <filesystem>
#include <system_error>

#include "chat/jinja/template.h"
#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/json_fields.h"
#include "owl/chat.h"
#include "owl/error.h"

namespace owl {

namespace {

// transformers' historical default (ChatML), used when a model ships no template. Documented in
// docs/chat.md.
const std::string chatml_source =
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// bos_token / eos_token in tokenizer_config.json: a string, {"content": ...} (an AddedToken),
// or null/absent (empty).
std::string config_token(const nlohmann::json& config, const char* key, const std::string& source) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  fail(source + ": field '" + key + "'", std::string("expected a string or an object with a string \"content\", found ") +
                                             json_type_name(*it));
}

// tokenizer_config.json's chat_template: a string, or a list of {name, template} where the one
// named "default" is used (as transformers does).
std::optional<std::string> config_template(const nlohmann::json& config, const std::string& source) {
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::nullopt;
  const std::string where = source + ": field 'chat_template'";
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) fail(where, "expected a string or a list of {name, template}, found " + json_type_name(*it));
  std::vector<std::string> names;
  for (const auto& entry : *it) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string())
      fail(where, "expected every entry to be an object with string \"name\" and \"template\"");
    names.push_back(entry["name"].get<std::string>());
    if (names.back() == "default") return entry["template"].get<std::string>();
  }
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  fail(where, "the list of templates has none named \"default\" (found: " + listed + ")",
       "transformers needs a template name in this case; owl uses the one named \"default\"");
}

}  // namespace

struct chat_template::impl {
  std::shared_ptr<const jinja::program> program;
  std::string source;
  std::string bos_token;
  std::string eos_token;
  bool fallback = false;
};

chat_template::chat_template() : impl_(std::make_unique<impl>()) {}
chat_template::chat_template(const chat_template& other) : impl_(std::make_unique<impl>(*other.impl_)) {}
chat_template& chat_template::operator=(const chat_template& other) {
  if (this != &other) impl_ = std::make_unique<impl>(*other.impl_);
  return *this;
}
chat_template::chat_template(chat_template&&) noexcept = default;
chat_template& chat_template::operator=(chat_template&&) noexcept = default;
chat_template::~chat_template() = default;

chat_template chat_template::from_string(const std::string& source, const std::string& bos_token,
                                         const std::string& eos_token, const std::string& name) {
  chat_template t;
  t.impl_->program = jinja::program::compile(source, name);
  t.impl_->source = source;
  t.impl_->bos_token = bos_token;
  t.impl_->eos_token = eos_token;
  return t;
}

const std::string& chat_template::chatml_fallback() { return chatml_source; }

chat_template chat_template::from_model(const std::filesystem::path& model) {
  if (!is_gguf_file(model)) return from_dir(model);
  // A GGUF file carries the template (tokenizer.chat_template) and its special tokens in its
  // metadata, read here into the tokenizer_config.json they would have come from.
  const auto file = gguf_file::open(model);
  const gguf_tokenizer_json json = tokenizer_from_gguf(*file);
  const std::string label = model.string() + " (GGUF tokenizer metadata)";
  nlohmann::json config = nlohmann::json::object();
  if (!json.tokenizer_config_json.empty()) config = parse_json(json.tokenizer_config_json, label);
  if (!config.is_object()) fail(label, "expected a JSON object, found " + json_type_name(config));
  const std::string bos = config_token(config, "bos_token", label);
  const std::string eos = config_token(config, "eos_token", label);
  if (auto source = config_template(config, label)) return from_string(*source, bos, eos, label + ": chat_template");
  chat_template t = from_string(chatml_source, bos, eos, "chatml_fallback");
  t.impl_->fallback = true;
  return t;
}

chat_template chat_template::from_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto config_path = dir / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  if (std::filesystem::exists(config_path, ec)) {
    config = parse_json(read_text_file(config_path), config_path.string());
    if (!config.is_object()) fail(config_path.string(), "expected a JSON object, found " + json_type_name(config));
  }
  const std::string bos = config_token(config, "bos_token", config_path.string());
  const std::string eos = config_token(config, "eos_token", config_path.string());

  // transformers saves the template as chat_template.jinja since 4.49 and prefers that file.
  const auto jinja_path = dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_path, ec))
    return from_string(read_text_file(jinja_path), bos, eos, jinja_path.string());
  if (auto source = config_template(config, config_path.string()))
    return from_string(*source, bos, eos, config_path.string() + ": chat_template");
  chat_template t = from_string(chatml_source, bos, eos, "chatml_fallback");
  t.impl_->fallback = true;
  return t;
}

std::string chat_template::render(const chat_render_options& options, const template_limits& limits) const {
  for (const char* reserved : {"messages", "tools", "documents", "add_generation_prompt"})
    if (options.extra.is_object() && options.extra.contains(reserved))
      fail("chat template variables", std::string("'") + reserved + "' cannot be passed as an extra variable",
           "set it in chat_render_options itself");
  if (!options.extra.is_null() && !options.extra.is_object())
    fail("chat template variables", std::string("expected extra to be a JSON object, found ") + options.extra.type_name());
  return impl_->program->render(
      [&](jinja::dict_data& vars) {
        // The same variables apply_chat_template passes: the special tokens, then the caller's
        // extra kwargs (which may override them), then messages/tools/documents.
        vars.set("bos_token", jinja::value::string(impl_->bos_token));
        vars.set("eos_token", jinja::value::string(impl_->eos_token));
        if (options.extra.is_object())
          for (auto it = options.extra.begin(); it != options.extra.end(); ++it)
            vars.set(std::string_view(it.key()), jinja::from_json(it.value()));
        vars.set("messages", jinja::from_json(options.messages));
        vars.set("tools", jinja::from_json(options.tools));
        vars.set("documents", jinja::value::none());
        vars.set("add_generation_prompt", jinja::value::boolean(options.add_generation_prompt));
      },
      limits);
}

const std::string& chat_template::source() const { return impl_->source; }
bool chat_template::is_fallback() const { return impl_->fallback; }
const std::string& chat_template::bos_token() const { return impl_->bos_token; }
const std::string& chat_template::eos_token() const { return impl_->eos_token; }

}  // namespace owl

