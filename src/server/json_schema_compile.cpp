// json_schema_compile.cpp — JSON Schema -> schema_graph for the constrained-decoding automaton.
//
// Only keywords the automaton can enforce exactly are accepted; anything else is refused with
// the keyword's name, because silently ignoring a constraint would produce output the client
// believes was validated. Annotations (description, title, ...) and `format` are ignored.
#include <cmath>
#include <map>
#include <set>

#include "owl/error.h"
#include "server/json_schema_graph.h"

namespace owl::server::json_detail {
namespace {

using nlohmann::json;

const std::set<std::string> ignored_keywords = {
    "description", "title", "default", "examples", "format", "$schema", "$id", "$comment",
    "$defs", "definitions", "deprecated", "readOnly", "writeOnly"};
const std::set<std::string> supported_keywords = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "enum", "const", "anyOf", "oneOf", "$ref", "minLength", "maxLength"};
constexpr const char* supported_hint =
    "supported: type, properties, required, additionalProperties, items, minItems, maxItems, enum, "
    "const, anyOf, oneOf, $ref to #/$defs or #/definitions, minLength, maxLength";
constexpr int max_nesting = 64;

class compiler {
 public:
  explicit compiler(const json& root) : root_(root) {}

  schema_graph run() {
    g_.root = compile(root_, "#", 0);
    return std::move(g_);
  }

  // json_object mode: an object with any properties.
  schema_graph any_object() {
    schema_node obj;
    obj.kind = node_kind::object;
    obj.additional = any();
    g_.root = add(std::move(obj));
    return std::move(g_);
  }

 private:
  [[noreturn]] void bad(const std::string& path, const std::string& problem, const std::string& hint = supported_hint) {
    fail("response_format json_schema at " + path, problem, hint);
  }

  static schema_node of_kind(node_kind k) {
    schema_node n;
    n.kind = k;
    return n;
  }

  int32_t add(schema_node n) {
    g_.nodes.push_back(std::move(n));
    return static_cast<int32_t>(g_.nodes.size() - 1);
  }

  int32_t literal(const json& value) {
    g_.literals.push_back(value.dump());
    return static_cast<int32_t>(g_.literals.size() - 1);
  }

  int32_t literals_node(const std::vector<json>& values) {
    schema_node n;
    n.kind = node_kind::literals;
    for (const auto& v : values) n.literals.push_back(literal(v));
    return add(std::move(n));
  }

  // Any JSON value; built once, its object/array nodes refer back to it.
  int32_t any() {
    if (any_ >= 0) return any_;
    any_ = add(schema_node{});  // alternatives, filled below
    std::vector<int32_t> alts;
    alts.push_back(literals_node({json(nullptr), json(true), json(false)}));
    alts.push_back(add(of_kind(node_kind::number)));
    alts.push_back(add(of_kind(node_kind::string)));
    schema_node obj;
    obj.kind = node_kind::object;
    obj.additional = any_;
    alts.push_back(add(std::move(obj)));
    schema_node arr;
    arr.kind = node_kind::array;
    arr.items = any_;
    alts.push_back(add(std::move(arr)));
    g_.nodes[static_cast<size_t>(any_)].alts = std::move(alts);
    return any_;
  }

  uint32_t count(const json& s, const char* key, const std::string& path, uint32_t fallback) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) bad(path + "/" + key, "expected a non-negative integer, found " + v.dump(), "");
    return static_cast<uint32_t>(std::min<uint64_t>(v.get<uint64_t>(), unlimited - 1));
  }

  static bool matches_type(const json& v, const std::string& type) {
    if (type == "null") return v.is_null();
    if (type == "boolean") return v.is_boolean();
    if (type == "integer")
      return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                       std::floor(v.get<double>()) == v.get<double>());
    if (type == "number") return v.is_number();
    if (type == "string") return v.is_string();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    return false;
  }

  std::vector<std::string> types_of(const json& s, const std::string& path) {
    std::vector<std::string> types;
    const json& t = s["type"];
    if (t.is_string()) {
      types.push_back(t.get<std::string>());
    } else if (t.is_array() && !t.empty()) {
      for (const auto& e : t) {
        if (!e.is_string()) bad(path + "/type", "expected a type name, found " + e.dump(), "");
        types.push_back(e.get<std::string>());
      }
    } else {
      bad(path + "/type", "expected a type name or a non-empty list of them, found " + t.dump(), "");
    }
    for (const auto& type : types) {
      if (type != "null" && type != "boolean" && type != "integer" && type != "number" && type != "string" &&
          type != "object" && type != "array")
        bad(path + "/type", "unknown type '" + type + "'", "types: null, boolean, integer, number, string, object, array");
    }
    return types;
  }

  int32_t resolve_ref(const json& ref, const std::string& path) {
    if (!ref.is_string()) bad(path + "/$ref", "expected a string, found " + ref.dump(), "");
    const std::string r = ref.get<std::string>();
    if (r != "#" && r.rfind("#/$defs/", 0) != 0 && r.rfind("#/definitions/", 0) != 0)
      bad(path + "/$ref", "unsupported reference '" + r + "'", "only '#', '#/$defs/NAME' and '#/definitions/NAME'");
    if (auto it = refs_.find(r); it != refs_.end()) return it->second;
    const json* target = nullptr;
    try {
      target = &root_.at(json::json_pointer(r.substr(1)));
    } catch (const json::exception&) {
      bad(path + "/$ref", "reference '" + r + "' does not resolve", "");
    }
    // The alias node exists before its target is compiled, so recursive references find it.
    const int32_t alias = add(of_kind(node_kind::alias));
    refs_[r] = alias;
    const int32_t t = compile(*target, r, 0);
    g_.nodes[static_cast<size_t>(alias)].target = t;
    return alias;
  }

  int32_t compile(const json& s, const std::string& path, int depth) {
    if (depth > max_nesting) bad(path, "schema nested more than 64 levels deep", "");
    if (s.is_boolean()) {
      if (s.get<bool>()) return any();
      bad(path, "the schema 'false' accepts no value", "");
    }
    if (!s.is_object()) bad(path, "expected a schema object, found " + s.dump(), "");

    std::vector<std::string> constraints;  // keywords present that constrain the value
    for (const auto& [key, value] : s.items()) {
      if (ignored_keywords.count(key)) continue;
      if (!supported_keywords.count(key)) bad(path, "unsupported keyword '" + key + "'");
      constraints.push_back(key);
    }
    auto only = [&](const std::string& keyword, const std::set<std::string>& allowed_with) {
      for (const auto& k : constraints)
        if (k != keyword && !allowed_with.count(k))
          bad(path, "unsupported combination of '" + keyword + "' with '" + k + "'");
    };

    if (s.contains("$ref")) {
      only("$ref", {});
      return resolve_ref(s["$ref"], path);
    }

    if (s.contains("enum") || s.contains("const")) {
      only(s.contains("enum") ? "enum" : "const", {"type"});
      std::vector<json> values;
      if (s.contains("enum")) {
        if (!s["enum"].is_array()) bad(path + "/enum", "expected an array, found " + s["enum"].dump(), "");
        values.assign(s["enum"].begin(), s["enum"].end());
      } else {
        values.push_back(s["const"]);
      }
      if (s.contains("type")) {
        const auto types = types_of(s, path);
        std::erase_if(values, [&](const json& v) {
          for (const auto& t : types)
            if (matches_type(v, t)) return false;
          return true;
        });
      }
      if (values.empty()) bad(path, "no value satisfies enum/const (and type)", "");
      return literals_node(values);
    }

    if (s.contains("anyOf") || s.contains("oneOf")) {
      const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
      only(key, {});
      const json& list = s[key];
      if (!list.is_array() || list.empty()) bad(path + "/" + key, "expected a non-empty array of schemas", "");
      schema_node n;
      n.kind = node_kind::alternatives;
      for (size_t i = 0; i < list.size(); ++i)
        n.alts.push_back(compile(list[i], path + "/" + key + "/" + std::to_string(i), depth + 1));
      return add(std::move(n));
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      types = types_of(s, path);
    } else if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
      types = {"object"};
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types = {"array"};
    } else if (s.contains("minLength") || s.contains("maxLength")) {
      types = {"string"};
    } else {
      return any();
    }

    std::vector<int32_t> alts;
    for (const auto& type : types) alts.push_back(typed(s, type, path, depth));
    if (alts.size() == 1) return alts[0];
    schema_node n;
    n.kind = node_kind::alternatives;
    n.alts = std::move(alts);
    return add(std::move(n));
  }

  int32_t typed(const json& s, const std::string& type, const std::string& path, int depth) {
    if (type == "null") return literals_node({json(nullptr)});
    if (type == "boolean") return literals_node({json(true), json(false)});
    if (type == "number") return add(of_kind(node_kind::number));
    if (type == "integer") return add(of_kind(node_kind::integer));
    if (type == "string") {
      schema_node n;
      n.kind = node_kind::string;
      n.min_length = count(s, "minLength", path, 0);
      n.max_length = count(s, "maxLength", path, unlimited);
      if (n.min_length > n.max_length) bad(path, "minLength is greater than maxLength", "");
      return add(std::move(n));
    }
    if (type == "array") {
      schema_node n;
      n.kind = node_kind::array;
      n.min_items = count(s, "minItems", path, 0);
      n.max_items = count(s, "maxItems", path, unlimited);
      if (n.min_items > n.max_items) bad(path, "minItems is greater than maxItems", "");
      if (s.contains("items")) {
        if (s["items"].is_array()) bad(path + "/items", "unsupported tuple form of 'items' (an array of schemas)");
        n.items = compile(s["items"], path + "/items", depth + 1);
      } else {
        n.items = any();
      }
      return add(std::move(n));
    }
    // object
    schema_node n;
    n.kind = node_kind::object;
    std::map<std::string, size_t> index;
    if (s.contains("properties")) {
      const json& props = s["properties"];
      if (!props.is_object()) bad(path + "/properties", "expected an object, found " + props.dump(), "");
      if (props.size() > max_properties)
        bad(path + "/properties", "more than 64 properties in one object", "split the object into nested objects");
      for (const auto& [name, sub] : props.items()) {
        property p;
        try {
          const std::string quoted = json(name).dump();
          p.key = quoted.substr(1, quoted.size() - 2);
        } catch (const json::exception&) {
          bad(path + "/properties", "property name is not valid UTF-8", "");
        }
        index[name] = n.properties.size();
        n.properties.push_back(std::move(p));
      }
      // Compile after the names are in place (the sub-schemas may refer back recursively).
      size_t i = 0;
      for (const auto& [name, sub] : props.items())
        n.properties[i++].node = compile(sub, path + "/properties/" + name, depth + 1);
    }
    if (s.contains("required")) {
      const json& req = s["required"];
      if (!req.is_array()) bad(path + "/required", "expected an array of names, found " + req.dump(), "");
      for (const auto& r : req) {
        if (!r.is_string()) bad(path + "/required", "expected a property name, found " + r.dump(), "");
        auto it = index.find(r.get<std::string>());
        if (it == index.end())
          bad(path + "/required", "required property '" + r.get<std::string>() + "' is not in 'properties'",
              "declare it in 'properties'");
        n.properties[it->second].required = true;
        n.required_mask |= uint64_t{1} << it->second;
      }
    }
    // OpenAI strict-mode semantics: with declared properties, no extra ones unless asked for.
    // A bare {"type": "object"} stays any object, which is what such a schema is written for.
    if (s.contains("additionalProperties")) {
      const json& ap = s["additionalProperties"];
      if (ap.is_boolean()) {
        n.additional = ap.get<bool>() ? any() : -1;
      } else {
        n.additional = compile(ap, path + "/additionalProperties", depth + 1);
      }
    } else if (n.properties.empty()) {
      n.additional = any();
    }
    return add(std::move(n));
  }

  const json& root_;
  schema_graph g_;
  std::map<std::string, int32_t> refs_;
  int32_t any_ = -1;
};

}  // namespace

schema_graph compile_schema(const nlohmann::json* schema) {
  static const nlohmann::json empty = nlohmann::json::object();
  if (!schema) return compiler(empty).any_object();
  return compiler(*schema).run();
}

}  // namespace owl::server::json_detail
