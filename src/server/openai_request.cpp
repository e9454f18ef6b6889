// openai_request.cpp — parsing and validating OpenAI request bodies (/v1/chat/completions,
// /v1/completions). Everything here reads untrusted input: every field is type- and
// range-checked, and a failure names the offending field in api_error::param so that clients
// (and their users) can see what to fix. Unknown fields are ignored.
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <string>

#include "server/openai_protocol.h"

namespace owl::server {

namespace {

using ojson = nlohmann::ordered_json;

// nlohmann's parser recurses once per nesting level: a body of a few hundred thousand '['
// would overflow the stack before any limit of ours could apply. No legitimate request comes
// close to this depth (a tool schema is rarely deeper than ~10).
constexpr int max_nesting = 64;

std::string type_for_status(int status) {
  if (status == 401) return "authentication_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

[[noreturn]] void fail(const std::string& param, const std::string& message) { throw api_error(400, message, param); }

// ordered_json keeps object members in a vector and looks a key up linearly on every insert,
// so parsing one object of n members costs n^2/2 comparisons: a 1 MB body of short keys would
// take seconds. Real objects (tool schemas, kwargs) have tens of members.
constexpr int max_object_members = 1024;

// Why `text` must not reach the parser (nesting deeper than max_nesting, or an object with
// more than max_object_members members), or "" when there is none. Brackets and commas inside
// string literals are text. Cheap and linear; malformed input is left for the parser to reject.
std::string structure_problem(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool is_object[max_nesting + 1] = {};
  int members[max_nesting + 1] = {};
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, which may be a quote, cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_nesting) return "nesting deeper than " + std::to_string(max_nesting) + " levels";
      is_object[depth] = c == '{';
      members[depth] = 1;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    } else if (c == ',' && depth > 0 && is_object[depth]) {
      if (++members[depth] > max_object_members) {
        return "an object with more than " + std::to_string(max_object_members) + " members";
      }
    }
  }
  return {};
}

ojson parse_body(std::string_view body) {
  if (const std::string problem = structure_problem(body); !problem.empty()) throw api_error(400, "invalid JSON: " + problem);
  ojson root;
  try {
    root = ojson::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    throw api_error(400, std::string("invalid JSON: ") + e.what());
  }
  if (!root.is_object()) throw api_error(400, "the request body must be a JSON object");
  return root;
}

std::string json_type_name(const ojson& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

[[noreturn]] void wrong_type(const std::string& param, const ojson& v, const std::string& expected) {
  fail(param, "'" + param + "' must be " + expected + ", not " + json_type_name(v));
}

// A present, non-null field; OpenAI clients send null for "not given", so null means absent.
const ojson* field(const ojson& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const ojson& v, const std::string& param) {
  if (!v.is_string()) wrong_type(param, v, "a string");
  return v.get<std::string>();
}

bool get_bool(const ojson& v, const std::string& param) {
  if (!v.is_boolean()) wrong_type(param, v, "a boolean");
  return v.get<bool>();
}

const ojson& get_object(const ojson& v, const std::string& param) {
  if (!v.is_object()) wrong_type(param, v, "an object");
  return v;
}

const ojson& get_array(const ojson& v, const std::string& param) {
  if (!v.is_array()) wrong_type(param, v, "an array");
  return v;
}

// An integer in [lo, hi]. Integral floats (e.g. 100.0, as some clients write every number) are
// accepted; fractional ones are not.
int64_t get_int(const ojson& v, const std::string& param, int64_t lo, int64_t hi) {
  const std::string range = "between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    // nlohmann reads every non-negative literal as unsigned; above INT64_MAX it is out of range.
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(param, "'" + param + "' must be " + range);
  }
  int64_t value = 0;
  if (v.is_number_integer()) {
    value = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 itself is out of int64's range; the bounds are exact doubles.
    if (std::floor(d) != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      wrong_type(param, v, "an integer");
    }
    value = static_cast<int64_t>(d);
  } else {
    wrong_type(param, v, "an integer");
  }
  if (value < lo || value > hi) fail(param, "'" + param + "' must be " + range);
  return value;
}

double get_number(const ojson& v, const std::string& param) {
  if (!v.is_number()) wrong_type(param, v, "a number");
  return v.get<double>();
}

// 2 rather than std::to_string's 2.000000, for error messages.
std::string short_number(double d) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", d);
  return buffer;
}

// A number in [lo, hi] (lo excluded when lo_open).
float get_float(const ojson& v, const std::string& param, double lo, double hi, bool lo_open = false) {
  const double d = get_number(v, param);
  if ((lo_open ? d <= lo : d < lo) || d > hi) {
    fail(param, "'" + param + "' must be in " + (lo_open ? "(" : "[") + short_number(lo) + ", " + short_number(hi) + "]");
  }
  return static_cast<float>(d);
}

// Which endpoint a request came to: a few fields differ (max_completion_tokens and tool_calls
// exist only for chat; logprobs is a bool for chat and a count for legacy completions).
enum class endpoint { chat, completion };

void parse_stop(const ojson& v, const request_limits& limits, std::vector<std::string>& out) {
  auto check_one = [&](const ojson& s, const std::string& param) {
    std::string text = get_string(s, param);
    if (text.empty()) fail(param, "stop strings must not be empty");
    if (text.size() > limits.max_stop_length) {
      fail(param, "stop strings must be at most " + std::to_string(limits.max_stop_length) + " bytes");
    }
    out.push_back(std::move(text));
  };
  if (v.is_string()) {
    check_one(v, "stop");
    return;
  }
  if (!v.is_array()) wrong_type("stop", v, "a string or an array of strings");
  if (v.size() > limits.max_stop_strings) {
    fail("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings are allowed");
  }
  for (size_t i = 0; i < v.size(); ++i) check_one(v[i], "stop[" + std::to_string(i) + "]");
}

// The fields /v1/chat/completions and /v1/completions share.
generation_params parse_generation(const ojson& root, const request_limits& limits, endpoint kind) {
  generation_params p;
  if (const ojson* v = field(root, "model")) p.model = get_string(*v, "model");
  if (const ojson* v = field(root, "user")) p.user = get_string(*v, "user");

  // Sampling. Defaults are OpenAI's (temperature 1, top_p 1), which sampling_params already holds.
  sampling_params& s = p.sampling;
  if (const ojson* v = field(root, "temperature")) s.temperature = get_float(*v, "temperature", 0, 2);
  if (const ojson* v = field(root, "top_p")) s.top_p = get_float(*v, "top_p", 0, 1, true);
  if (const ojson* v = field(root, "top_k")) {
    // -1 is vLLM's spelling of "off"; accept it so clients written for vLLM keep working.
    const int64_t k = get_int(*v, "top_k", -1, std::numeric_limits<int32_t>::max());
    s.top_k = k < 0 ? 0 : static_cast<int>(k);
  }
  if (const ojson* v = field(root, "min_p")) s.min_p = get_float(*v, "min_p", 0, 1);
  if (const ojson* v = field(root, "repetition_penalty")) {
    const double r = get_number(*v, "repetition_penalty");
    if (!(r > 0) || !std::isfinite(static_cast<float>(r))) fail("repetition_penalty", "'repetition_penalty' must be > 0");
    s.repetition_penalty = static_cast<float>(r);
  }
  if (const ojson* v = field(root, "presence_penalty")) s.presence_penalty = get_float(*v, "presence_penalty", -2, 2);
  if (const ojson* v = field(root, "frequency_penalty")) s.frequency_penalty = get_float(*v, "frequency_penalty", -2, 2);
  if (const ojson* v = field(root, "seed")) {
    // Any 64-bit integer: negative seeds keep their bit pattern, so distinct seeds stay distinct.
    if (v->is_number_unsigned()) {
      s.seed = v->get<uint64_t>();
    } else {
      s.seed = static_cast<uint64_t>(get_int(*v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    }
    p.seed_given = true;
  }
  if (const ojson* v = field(root, "logit_bias")) {
    // The sampler has no per-token bias; silently ignoring one would change what the client gets.
    if (!get_object(*v, "logit_bias").empty()) throw api_error(400, "'logit_bias' is not supported", "logit_bias");
  }

  if (const ojson* v = field(root, "max_tokens")) p.max_tokens = get_int(*v, "max_tokens", 1, limits.max_tokens_cap);
  if (kind == endpoint::chat) {
    // The newer name wins when a client sends both (OpenAI deprecated max_tokens for chat).
    if (const ojson* v = field(root, "max_completion_tokens")) {
      p.max_tokens = get_int(*v, "max_completion_tokens", 1, limits.max_tokens_cap);
    }
  }
  if (const ojson* v = field(root, "n")) {
    const int64_t n = get_int(*v, "n", 1, std::numeric_limits<int64_t>::max());
    if (n != 1) throw api_error(400, "only n = 1 is supported", "n");
  }
  if (const ojson* v = field(root, "stop")) parse_stop(*v, limits, p.stop);

  if (kind == endpoint::chat) {
    if (const ojson* v = field(root, "logprobs")) p.logprobs = get_bool(*v, "logprobs");
    if (const ojson* v = field(root, "top_logprobs")) {
      p.top_logprobs = static_cast<int>(get_int(*v, "top_logprobs", 0, limits.max_top_logprobs));
      // 0 asks for nothing extra, so clients that always send it are not refused.
      if (!p.logprobs && p.top_logprobs > 0) fail("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    }
  } else if (const ojson* v = field(root, "logprobs")) {
    // The legacy API's logprobs is the number of alternatives to report (0 to 5) per token.
    p.logprobs = true;
    p.top_logprobs = static_cast<int>(get_int(*v, "logprobs", 0, std::min(5, limits.max_top_logprobs)));
  }

  if (const ojson* v = field(root, "stream")) p.stream = get_bool(*v, "stream");
  if (const ojson* v = field(root, "stream_options")) {
    if (!p.stream) fail("stream_options", "'stream_options' is only allowed when 'stream' is true");
    get_object(*v, "stream_options");
    if (const ojson* u = field(*v, "include_usage")) p.include_usage = get_bool(*u, "stream_options.include_usage");
  }
  return p;
}

// ---- chat messages ----

// A content value joined into one string: a string, or an array of text parts. Parts are
// joined with "\n", as vLLM does for templates that take string content.
std::string parse_content(const ojson& v, const std::string& param) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) wrong_type(param, v, "a string or an array of content parts");
  std::string joined;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string part_param = param + "[" + std::to_string(i) + "]";
    const ojson& part = get_object(v[i], part_param);
    const ojson* type = field(part, "type");
    if (type == nullptr) fail(part_param + ".type", "content parts need a 'type'");
    const std::string t = get_string(*type, part_param + ".type");
    if (t == "image_url" || t == "input_image" || t == "input_audio" || t == "file" || t == "video_url") {
      throw api_error(400, "content parts of type '" + t + "' are not supported (text only)", part_param + ".type");
    }
    if (t != "text") fail(part_param + ".type", "unknown content part type '" + t + "'");
    const ojson* text = field(part, "text");
    if (text == nullptr) fail(part_param + ".text", "text parts need a 'text'");
    if (i > 0) joined += '\n';
    joined += get_string(*text, part_param + ".text");
  }
  return joined;
}

// Tool-call arguments for the template: chat templates iterate or tojson them as a mapping, so
// a JSON string becomes the object it encodes. Anything else stays as sent.
ojson template_arguments(const ojson& v) {
  if (!v.is_string()) return v;
  const std::string& text = v.get_ref<const std::string&>();
  if (!structure_problem(text).empty()) return v;  // the same guards as for the body
  ojson parsed = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return v;
  return parsed;
}

ojson parse_assistant_tool_calls(const ojson& v, const std::string& param) {
  get_array(v, param);
  ojson calls = ojson::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    const ojson& call = get_object(v[i], p);
    const ojson* id = field(call, "id");
    if (id == nullptr) fail(p + ".id", "tool calls need an 'id'");
    if (const ojson* type = field(call, "type")) {
      if (get_string(*type, p + ".type") != "function") fail(p + ".type", "tool call type must be 'function'");
    }
    const ojson* fn = field(call, "function");
    if (fn == nullptr) fail(p + ".function", "tool calls need a 'function'");
    get_object(*fn, p + ".function");
    const ojson* name = field(*fn, "name");
    if (name == nullptr) fail(p + ".function.name", "tool calls need a function 'name'");
    const ojson* args = field(*fn, "arguments");
    if (args == nullptr) fail(p + ".function.arguments", "tool calls need function 'arguments'");
    // OpenAI sends arguments as a JSON string; some clients send the object itself.
    if (!args->is_string() && !args->is_object()) wrong_type(p + ".function.arguments", *args, "a string");

    ojson out = ojson::object();
    out["id"] = get_string(*id, p + ".id");
    out["type"] = "function";
    out["function"] = {{"name", get_string(*name, p + ".function.name")}, {"arguments", template_arguments(*args)}};
    calls.push_back(std::move(out));
  }
  return calls;
}

ojson parse_messages(const ojson& root, const request_limits& limits) {
  const ojson* v = field(root, "messages");
  if (v == nullptr) fail("messages", "'messages' is required");
  get_array(*v, "messages");
  if (v->empty()) fail("messages", "'messages' must not be empty");
  if (v->size() > limits.max_messages) {
    fail("messages", "at most " + std::to_string(limits.max_messages) + " messages are allowed");
  }
  ojson out = ojson::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string p = "messages[" + std::to_string(i) + "]";
    const ojson& m = get_object((*v)[i], p);
    const ojson* role_v = field(m, "role");
    if (role_v == nullptr) fail(p + ".role", "messages need a 'role'");
    const std::string role = get_string(*role_v, p + ".role");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool") {
      fail(p + ".role", "unknown role '" + role + "' (system, developer, user, assistant or tool)");
    }

    ojson msg = ojson::object();
    msg["role"] = role;
    const ojson* content = field(m, "content");
    ojson tool_calls;
    if (role == "assistant") {
      if (const ojson* tc = field(m, "tool_calls")) {
        tool_calls = parse_assistant_tool_calls(*tc, p + ".tool_calls");
        if (tool_calls.empty()) tool_calls = nullptr;  // [] is the same as none
      }
    }
    if (content != nullptr) {
      msg["content"] = parse_content(*content, p + ".content");
    } else if (role == "assistant" && !tool_calls.is_null()) {
      msg["content"] = nullptr;  // templates test `message.content` and skip it when null
    } else {
      fail(p + ".content", "'content' is required" + std::string(role == "assistant" ? " unless 'tool_calls' is given" : ""));
    }
    if (const ojson* name = field(m, "name")) msg["name"] = get_string(*name, p + ".name");
    if (role == "tool") {
      const ojson* id = field(m, "tool_call_id");
      if (id == nullptr) fail(p + ".tool_call_id", "tool messages need a 'tool_call_id'");
      msg["tool_call_id"] = get_string(*id, p + ".tool_call_id");
    }
    if (role == "assistant") {
      // Reasoning sent back by clients (DeepSeek's convention); templates such as Qwen3's read it.
      if (const ojson* r = field(m, "reasoning_content")) msg["reasoning_content"] = get_string(*r, p + ".reasoning_content");
      if (!tool_calls.is_null()) msg["tool_calls"] = std::move(tool_calls);
    }
    out.push_back(std::move(msg));
  }
  return out;
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Returns the normalized tool list (null when none) and fills `names`.
ojson parse_tools(const ojson& root, const request_limits& limits, std::set<std::string>& names) {
  const ojson* v = field(root, "tools");
  if (v == nullptr) return nullptr;
  get_array(*v, "tools");
  if (v->size() > limits.max_tools) fail("tools", "at most " + std::to_string(limits.max_tools) + " tools are allowed");
  if (v->empty()) return nullptr;
  ojson out = ojson::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string p = "tools[" + std::to_string(i) + "]";
    const ojson& tool = get_object((*v)[i], p);
    const ojson* type = field(tool, "type");
    if (type == nullptr || get_string(*type, p + ".type") != "function") fail(p + ".type", "tool type must be 'function'");
    const ojson* fn = field(tool, "function");
    if (fn == nullptr) fail(p + ".function", "tools need a 'function'");
    get_object(*fn, p + ".function");
    const ojson* name_v = field(*fn, "name");
    if (name_v == nullptr) fail(p + ".function.name", "functions need a 'name'");
    const std::string name = get_string(*name_v, p + ".function.name");
    if (!valid_function_name(name)) {
      fail(p + ".function.name", "function names must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -");
    }
    if (!names.insert(name).second) fail(p + ".function.name", "duplicate function name '" + name + "'");
    ojson f = ojson::object();
    f["name"] = name;
    if (const ojson* d = field(*fn, "description")) f["description"] = get_string(*d, p + ".function.description");
    if (const ojson* params = field(*fn, "parameters")) f["parameters"] = get_object(*params, p + ".function.parameters");
    if (const ojson* strict = field(*fn, "strict")) f["strict"] = get_bool(*strict, p + ".function.strict");
    out.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  return out;
}

// Returns the keyword; a named function gives "function" and its name in `function_name`.
std::string parse_tool_choice(const ojson& root, const std::set<std::string>& names, std::string& function_name) {
  const ojson* v = field(root, "tool_choice");
  if (v == nullptr) return "auto";
  if (v->is_string()) {
    const std::string choice = v->get<std::string>();
    if (choice != "none" && choice != "auto" && choice != "required") {
      fail("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or a function");
    }
    if (choice == "required" && names.empty()) fail("tool_choice", "'tool_choice' is 'required' but no tools are given");
    return choice;
  }
  if (!v->is_object()) wrong_type("tool_choice", *v, "a string or an object");
  const ojson* type = field(*v, "type");
  if (type == nullptr || get_string(*type, "tool_choice.type") != "function") {
    fail("tool_choice.type", "'tool_choice.type' must be 'function'");
  }
  const ojson* fn = field(*v, "function");
  if (fn == nullptr) fail("tool_choice.function", "'tool_choice.function' is required");
  get_object(*fn, "tool_choice.function");
  const ojson* name = field(*fn, "name");
  if (name == nullptr) fail("tool_choice.function.name", "'tool_choice.function.name' is required");
  const std::string n = get_string(*name, "tool_choice.function.name");
  if (names.count(n) == 0) fail("tool_choice.function.name", "'tool_choice' names '" + n + "', which is not in 'tools'");
  function_name = n;
  return "function";
}

void parse_response_format(const ojson& root, chat_request& r) {
  const ojson* v = field(root, "response_format");
  if (v == nullptr) return;
  get_object(*v, "response_format");
  const ojson* type_v = field(*v, "type");
  if (type_v == nullptr) fail("response_format.type", "'response_format.type' is required");
  const std::string type = get_string(*type_v, "response_format.type");
  if (type == "text") {
    r.format = output_format::text;
  } else if (type == "json_object") {
    r.format = output_format::json_object;
  } else if (type == "json_schema") {
    const ojson* js = field(*v, "json_schema");
    if (js == nullptr) fail("response_format.json_schema", "'response_format.json_schema' is required");
    get_object(*js, "response_format.json_schema");
    const ojson* name = field(*js, "name");
    if (name == nullptr) fail("response_format.json_schema.name", "'response_format.json_schema.name' is required");
    if (!valid_function_name(get_string(*name, "response_format.json_schema.name"))) {
      fail("response_format.json_schema.name", "schema names must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -");
    }
    if (const ojson* d = field(*js, "description")) get_string(*d, "response_format.json_schema.description");
    if (const ojson* s = field(*js, "strict")) get_bool(*s, "response_format.json_schema.strict");
    const ojson* schema = field(*js, "schema");
    if (schema == nullptr) fail("response_format.json_schema.schema", "'response_format.json_schema.schema' is required");
    r.schema = get_object(*schema, "response_format.json_schema.schema");
    r.format = output_format::json_schema;
  } else {
    fail("response_format.type", "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
  }
}

}  // namespace

api_error::api_error(int status, std::string message, std::string param, std::string code)
    : std::runtime_error(std::move(message)),
      status(status),
      type(type_for_status(status)),
      param(std::move(param)),
      code(std::move(code)) {}

chat_request parse_chat_request(std::string_view body, const request_limits& limits) {
  const ojson root = parse_body(body);
  chat_request r;
  r.params = parse_generation(root, limits, endpoint::chat);
  r.messages = parse_messages(root, limits);
  std::set<std::string> names;
  r.tools = parse_tools(root, limits, names);
  r.tool_choice = parse_tool_choice(root, names, r.tool_choice_function);
  if (const ojson* v = field(root, "parallel_tool_calls")) get_bool(*v, "parallel_tool_calls");
  parse_response_format(root, r);
  if (const ojson* v = field(root, "chat_template_kwargs")) r.template_kwargs = get_object(*v, "chat_template_kwargs");
  return r;
}

completion_request parse_completion_request(std::string_view body, const request_limits& limits) {
  const ojson root = parse_body(body);
  completion_request r;
  r.params = parse_generation(root, limits, endpoint::completion);

  const ojson* prompt = field(root, "prompt");
  if (prompt == nullptr) fail("prompt", "'prompt' is required");
  auto token_list = [&](const ojson& arr, const std::string& param) {
    for (size_t i = 0; i < arr.size(); ++i) {
      r.prompt_tokens.push_back(static_cast<int32_t>(
          get_int(arr[i], param + "[" + std::to_string(i) + "]", 0, std::numeric_limits<int32_t>::max())));
    }
  };
  if (prompt->is_string()) {
    r.prompt = prompt->get<std::string>();
  } else if (prompt->is_array()) {
    // A list of prompts asks for one completion each; this server answers one (n = 1). A list
    // holding one prompt (a string or a token list) is that prompt.
    if (prompt->empty()) fail("prompt", "'prompt' must not be empty");
    const ojson& first = (*prompt)[0];
    if (first.is_string() || first.is_array()) {
      if (prompt->size() != 1) throw api_error(400, "only one prompt per request is supported", "prompt");
      if (first.is_string()) {
        r.prompt = first.get<std::string>();
      } else {
        if (first.empty()) fail("prompt[0]", "'prompt[0]' must not be empty");
        token_list(first, "prompt[0]");
      }
    } else {
      token_list(*prompt, "prompt");
    }
  } else {
    wrong_type("prompt", *prompt, "a string or an array");
  }

  if (const ojson* v = field(root, "echo")) r.echo = get_bool(*v, "echo");
  if (field(root, "suffix") != nullptr) throw api_error(400, "'suffix' (insertion) is not supported", "suffix");
  if (const ojson* v = field(root, "best_of")) {
    if (get_int(*v, "best_of", 1, std::numeric_limits<int64_t>::max()) != 1) {
      throw api_error(400, "only best_of = 1 is supported", "best_of");
    }
  }
  return r;
}

}  // namespace owl::server
