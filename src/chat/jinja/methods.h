// methods.h — the str, list and dict methods templates call (s.strip(), d.items(), ...).
#pragma once

#include <string_view>

#include "chat/jinja/value.h"

namespace owl::jinja {

// Whether obj.name is a method owl implements (safe), one jinja2's immutable sandbox refuses
// (unsafe: dict.update, list.sort, ...), or not a method at all.
enum class method_access { none, safe, unsafe };
method_access method_kind(const value& obj, std::string_view name);

}  // namespace owl::jinja
