// template.h — the engine's entry point: parse a Jinja2 template once, render it many times.
//
//   auto t = owl::jinja::program::compile(source, "chat_template");   // owl::error on syntax errors
//   std::string text = t->render([&](owl::jinja::dict_data& vars) { vars.set("x", ...); }, limits);
//
// A program is immutable after compile; renders on different threads may share it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "chat/jinja/ast.h"
#include "owl/chat.h"

namespace owl::jinja {

class program {
 public:
  // Parses `source`; `name` labels positions in errors ("name:line:col: problem").
  static std::shared_ptr<const program> compile(std::string_view source, const std::string& name);

  // Renders with the variables `fill` puts in the (initially empty) global dict. `fill` runs
  // inside the render so the values it makes are tracked like any other. Every failure is an
  // owl::error naming the template position.
  std::string render(const std::function<void(dict_data& variables)>& fill, const template_limits& limits) const;

  const std::string& name() const { return name_; }
  // "name:line:col" for a byte offset into the normalized source.
  std::string where(size_t offset) const;

 private:
  program() = default;
  std::string name_;
  std::string source_;  // newlines normalized, as the offsets count
  ast::body body_;
};

}  // namespace owl::jinja
