// owl template: render a conversation with a model's chat template, exactly as the model
// would see it. The debugging tool for templates: its output is compared byte for byte with
// transformers' apply_chat_template.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/chat.h"
#include "owl/error.h"

namespace owl::cli {

nlohmann::ordered_json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the " + what + " file");
  std::stringstream text;
  text << in.rdbuf();
  // Ordered: the key order of tool schemas and arguments shows in the rendered prompt.
  nlohmann::ordered_json value = nlohmann::ordered_json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) fail(path, "the " + what + " file is not valid JSON");
  return value;
}

// A messages file holds a JSON list of messages, or an object {"messages": [...], "tools": [...]}
// (the shape of a chat request). Returns the messages; `tools` is filled from the object form.
nlohmann::ordered_json read_messages_file(const std::string& path, nlohmann::ordered_json* tools) {
  nlohmann::ordered_json value = read_json_file(path, "messages");
  if (value.is_object() && value.contains("messages")) {
    if (tools && value.contains("tools")) *tools = value["tools"];
    value = value["messages"];
  }
  if (!value.is_array())
    fail(path, std::string("expected a JSON list of messages, found ") + value.type_name(),
         R"(write e.g. [{"role": "user", "content": "Hi"}])");
  for (const auto& m : value)
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail(path, "expected every message to be an object with a string role, found " + m.dump().substr(0, 80));
  return value;
}

namespace {

struct template_options {
  std::string model_dir;
  std::string messages_file;
  std::string tools_file;
  bool add_generation_prompt = false;
  std::vector<std::string> kwargs;
};

void render_template(const template_options& o) {
  nlohmann::ordered_json tools;
  chat_render_options render;
  render.messages = read_messages_file(o.messages_file, &tools);
  if (!o.tools_file.empty()) {
    tools = read_json_file(o.tools_file, "tools");
    if (!tools.is_array()) fail(o.tools_file, std::string("expected a JSON list of tools, found ") + tools.type_name());
  }
  render.tools = tools;
  render.add_generation_prompt = o.add_generation_prompt;
  for (const std::string& kwarg : o.kwargs) {
    const size_t eq = kwarg.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("--kwarg", "expected NAME=JSON, found '" + kwarg + "'", "e.g. --kwarg enable_thinking=false");
    auto value = nlohmann::ordered_json::parse(kwarg.substr(eq + 1), nullptr, false);
    if (value.is_discarded())
      fail("--kwarg " + kwarg.substr(0, eq), "the value is not JSON: '" + kwarg.substr(eq + 1) + "'",
           "quote strings as JSON, e.g. --kwarg 'date_string=\"26 Jul 2024\"'");
    render.extra[kwarg.substr(0, eq)] = value;
  }
  // A missing folder would otherwise quietly get the ChatML fallback.
  if (!std::filesystem::is_directory(o.model_dir) && !std::filesystem::is_regular_file(o.model_dir))
    fail(o.model_dir, "no such folder or GGUF file", "give a model or tokenizer folder, or a GGUF file");
  const chat_template tmpl = chat_template::from_model(o.model_dir);
  const std::string text = tmpl.render(render);
  // Exactly the rendered text: no newline added, so `owl template ... | cmp - expected` works.
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_template_command(CLI::App& app) {
  auto options = std::make_shared<template_options>();
  CLI::App* cmd = app.add_subcommand("template", "Print a conversation rendered with a model's chat template");
  cmd->add_option("model", options->model_dir, "Model or tokenizer folder (chat_template.jinja or tokenizer_config.json)")
      ->required();
  cmd->add_option("--messages", options->messages_file, "JSON file: a list of {role, content, ...} messages")
      ->required();
  cmd->add_flag("--add-generation-prompt", options->add_generation_prompt,
                "End with the start of an assistant turn, as for generation");
  cmd->add_option("--tools", options->tools_file, "JSON file: a list of tool definitions");
  cmd->add_option("--kwarg", options->kwargs, "Extra template variable NAME=JSON (repeatable), e.g. enable_thinking=false");
  cmd->callback([options] { render_template(*options); });
}

}  // namespace owl::cli
