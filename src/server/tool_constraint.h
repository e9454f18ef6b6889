// tool_constraint.h — constrained decoding for tool_choice "required" / a named function.
//
// The reply is forced to be exactly one tool call in the model's own markup (the syntax
// parse_reply() reads for its tool_call_format), naming an allowed tool, with arguments that
// match that tool's `parameters` JSON schema. Each allowed tool is one branch: a literal
// prefix that already holds the tool's name, the arguments as a JSON value checked by the
// JSON-schema automaton (json_automaton.h), and a literal suffix. The name goes into the
// literal rather than into a schema ("name": {"const": ...}) so that the call is written the
// way the model's chat template renders calls (name first), and so that a tool's `$ref`s keep
// resolving against its own `parameters`, which stays the root of its schema.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "owl/chat.h"
#include "server/json_constraint.h"
#include "server/token_constraint.h"

namespace owl::server {

// One way of writing a call: prefix, arguments matching `parameters`, suffix.
struct tool_call_template {
  std::string name;
  std::string prefix;
  nlohmann::json parameters;  // a JSON schema for the arguments object
  std::string suffix;
};

// The literal markup around each allowed tool's arguments, for `format`. `tools`: the
// request's OpenAI-style tool list; only_name: empty for any of them, else just that one.
// Throws owl::error when the format has no tool-call syntax, the named tool is not in the list,
// or a tool's parameters is not an object schema.
std::vector<tool_call_template> tool_call_templates(tool_call_format format, const nlohmann::ordered_json& tools,
                                                    const std::string& only_name);

// The constraint: one call of one of the allowed tools, then end_ids (must not be empty).
// Throws owl::error naming the tool and keyword when a parameters schema uses something the
// JSON automaton cannot enforce (see json_schema_compile.cpp).
std::unique_ptr<token_constraint> make_tool_call_constraint(std::shared_ptr<const token_vocabulary> vocab,
                                                            tool_call_format format,
                                                            const nlohmann::ordered_json& tools,
                                                            const std::string& only_name,
                                                            std::vector<int32_t> end_ids);

}  // namespace owl::server
