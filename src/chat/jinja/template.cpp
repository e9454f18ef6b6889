#include "chat/jinja/template.h"

#include <algorithm>

#include "chat/jinja/interpreter.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"
#include "owl/error.h"

namespace owl::jinja {

std::shared_ptr<const program> program::compile(std::string_view source, const std::string& name) {
  std::shared_ptr<program> p(new program());
  p->name_ = name;
  p->source_ = normalize_newlines(source);
  if (p->source_.size() > (size_t(1) << 31)) fail(name, "template is larger than 2 GiB");
  try {
    p->body_ = parse(tokenize(p->source_), p->source_);
  } catch (const template_error& e) {
    fail(p->where(e.offset), e.what());
  }
  return p;
}

std::string program::where(size_t offset) const {
  if (offset == template_error::no_offset) return name_;
  return name_ + ":" + line_column(source_, offset);
}

std::string program::render(const std::function<void(dict_data& variables)>& fill,
                            const template_limits& limits) const {
  // Order matters: the guards must outlive every value made during the render, and the
  // registry empties those values when it goes (see value.h).
  stack_guard stack;
  const auto max_output = static_cast<size_t>(std::max<int64_t>(limits.max_output_bytes, 0));
  const size_t max_total = max_output > SIZE_MAX / 16 ? SIZE_MAX : max_output * 16;
  text_budget budget(max_output, max_total);
  container_registry registry;
  std::string out;
  try {
    value variables = value::dict();
    fill(variables.as_dict());
    renderer r(variables.as_dict(), limits);
    r.render(body_, out);
  } catch (const template_error& e) {
    fail(where(e.offset), e.what());
  }
  return out;
}

}  // namespace owl::jinja
