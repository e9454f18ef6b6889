// json_schema_graph.h — a JSON Schema compiled to the node graph the JSON automaton walks.
// Internal to json_constraint.cpp / json_schema_compile.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace owl::server::json_detail {

enum class node_kind : uint8_t {
  alias,        // $ref: the value is `target` (kept as a node so recursion works)
  alternatives, // anyOf / oneOf / list of types: any of `alts`
  literals,     // enum / const / null / boolean: one of `literals` (compact JSON text)
  number,
  integer,
  string,
  object,
  array,
};

constexpr uint32_t unlimited = std::numeric_limits<uint32_t>::max();
constexpr size_t max_properties = 64;  // objects track their properties in a 64-bit mask

struct property {
  std::string key;     // the name as JSON string content (escaped, without quotes)
  int32_t node = -1;
  bool required = false;
};

struct schema_node {
  node_kind kind = node_kind::alternatives;
  int32_t target = -1;                       // alias
  std::vector<int32_t> alts;                 // alternatives
  std::vector<int32_t> literals;             // literals: indexes into schema_graph::literals
  uint32_t min_length = 0, max_length = unlimited;  // string, in code points
  std::vector<property> properties;          // object, any order, each at most once
  uint64_t required_mask = 0;
  int32_t additional = -1;                   // object: node of extra properties, -1: none
  int32_t items = -1;                        // array
  uint32_t min_items = 0, max_items = unlimited;
};

struct schema_graph {
  std::vector<schema_node> nodes;
  std::vector<std::string> literals;
  int32_t root = -1;
};

// schema == nullptr: any JSON object. Throws owl::error on unsupported keywords.
schema_graph compile_schema(const nlohmann::json* schema);

}  // namespace owl::server::json_detail
