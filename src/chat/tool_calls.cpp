// tool_calls.cpp — splitting reasoning and tool calls out of what a model wrote.
//
// Model output is untrusted and often imperfect (cut off by max_tokens, invalid JSON, a marker
// with nothing after it). The rule everywhere: a call is taken out of the text only when it
// parses completely; anything else stays in the content, verbatim, so no text is ever lost.
// Nothing here throws on model output: JSON is parsed with exceptions off.
#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "owl/chat.h"

namespace owl {
namespace {

using json = nlohmann::ordered_json;  // tool arguments keep the key order the model wrote

// Markers, spelled as the models' vocabularies spell them (DeepSeek's use the fullwidth bar
// U+FF5C and U+2581 "lower one eighth block" instead of spaces).
constexpr std::string_view think_open = "<think>";
constexpr std::string_view think_close = "</think>";
constexpr std::string_view hermes_open = "<tool_call>";
constexpr std::string_view hermes_close = "</tool_call>";
constexpr std::string_view python_tag = "<|python_tag|>";
constexpr std::string_view ds_calls_begin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view ds_calls_end = "<｜tool▁calls▁end｜>";
constexpr std::string_view ds_call_begin = "<｜tool▁call▁begin｜>";
constexpr std::string_view ds_call_end = "<｜tool▁call▁end｜>";
constexpr std::string_view ds_sep = "<｜tool▁sep｜>";
constexpr std::string_view mistral_calls = "[TOOL_CALLS]";
constexpr std::string_view mistral_args = "[ARGS]";
constexpr std::string_view mistral_call_id = "[CALL_ID]";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

size_t skip_space(std::string_view s, size_t at) {
  while (at < s.size() && is_space(s[at])) ++at;
  return at;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Where the JSON object or array starting at s[start] ends (one past its closing bracket), or
// npos when it is unterminated. Only brackets and strings are tracked; whether the value is
// valid JSON is decided by the real parser afterwards.
size_t json_value_end(std::string_view s, size_t start) {
  if (start >= s.size() || (s[start] != '{' && s[start] != '[')) return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;  // skip the escaped character, whatever it is
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// Parses without throwing; a discarded value means "not JSON". nlohmann's parser and
// destructor are iterative, so deeply nested output cannot exhaust the stack.
json parse_json(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

// Random alphanumerics for tool call ids; the ids only need to be unique within a
// conversation, so a per-thread generator seeded once is enough.
std::string random_alnum(size_t n) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(alphabet) - 2);
  std::string out(n, ' ');
  for (char& c : out) c = alphabet[pick(rng)];
  return out;
}

// OpenAI-style ids everywhere except Mistral, whose templates refuse any id that is not
// exactly 9 alphanumerics when the conversation is rendered again.
std::string new_call_id(tool_call_format format) {
  return format == tool_call_format::mistral ? random_alnum(9) : "call_" + random_alnum(24);
}

// Arguments must end up an object. Models (and OpenAI-style clients) sometimes give them as
// a string holding JSON; that is accepted when the string parses to an object.
std::optional<json> as_arguments(const json& value) {
  if (value.is_object()) return value;
  if (value.is_string()) {
    json inner = parse_json(value.get_ref<const std::string&>());
    if (inner.is_object()) return inner;
  }
  return std::nullopt;
}

// {"name": "...", "arguments" | "parameters": {...}}. Llama 3 writes "parameters", everyone
// else "arguments". `arguments_required`: outside explicit markers (Llama 3's bare JSON) an
// object without arguments is more likely an answer that happens to be JSON than a call.
std::optional<tool_call> call_from_object(const json& object, tool_call_format format, bool arguments_required) {
  if (!object.is_object()) return std::nullopt;
  auto name = object.find("name");
  if (name == object.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  tool_call call;
  call.name = name->get<std::string>();
  auto args = object.find("arguments");
  if (args == object.end()) args = object.find("parameters");
  if (args == object.end()) {
    if (arguments_required) return std::nullopt;
    call.arguments = json::object();
  } else {
    auto parsed = as_arguments(*args);
    if (!parsed) return std::nullopt;
    call.arguments = std::move(*parsed);
  }
  auto id = object.find("id");
  call.id = id != object.end() && id->is_string() && !id->get_ref<const std::string&>().empty()
                ? id->get<std::string>()
                : new_call_id(format);
  return call;
}

// ---- reasoning ---------------------------------------------------------------------------

// Splits <think>...</think> off the front. Two shapes occur: the model writes both tags, or
// the template already put "<think>" at the end of the prompt (Qwen3, DeepSeek-R1, QwQ) and
// the output holds only the closing tag. A <think> that is never closed means the reply was
// cut off while thinking: all of it is reasoning.
void split_reasoning(std::string_view text, parsed_reply& out, std::string& rest) {
  const size_t start = skip_space(text, 0);
  if (text.substr(start).starts_with(think_open)) {
    std::string_view body = text.substr(start + think_open.size());
    const size_t close = body.find(think_close);
    if (close == std::string_view::npos) {
      out.reasoning = std::string(trim(body));
      rest.clear();
      return;
    }
    out.reasoning = std::string(trim(body.substr(0, close)));
    rest = std::string(body.substr(close + think_close.size()));
    return;
  }
  const size_t close = text.find(think_close);
  // Only a closing tag with no opening one before it is the "opened in the prompt" shape.
  if (close != std::string_view::npos && !contains(text.substr(0, close), think_open)) {
    out.reasoning = std::string(trim(text.substr(0, close)));
    rest = std::string(text.substr(close + think_close.size()));
    return;
  }
  rest = std::string(text);
}

// ---- Hermes / Qwen: <tool_call>\n{json}\n</tool_call> ------------------------------------

void parse_hermes(std::string_view text, parsed_reply& out) {
  std::string content;
  size_t at = 0;
  while (at < text.size()) {
    const size_t open = text.find(hermes_open, at);
    if (open == std::string_view::npos) break;
    const size_t body_start = open + hermes_open.size();
    const size_t close = text.find(hermes_close, body_start);
    if (close == std::string_view::npos) break;  // unterminated: the rest stays text
    auto call = call_from_object(parse_json(trim(text.substr(body_start, close - body_start))),
                                 tool_call_format::hermes, /*arguments_required=*/false);
    const size_t after = close + hermes_close.size();
    if (call) {
      content.append(text.substr(at, open - at));
      out.tool_calls.push_back(std::move(*call));
    } else {
      content.append(text.substr(at, after - at));  // keep the malformed block verbatim
    }
    at = after;
  }
  content.append(text.substr(std::min(at, text.size())));
  out.content = std::move(content);
}

// ---- Llama 3.x: bare JSON, optionally after <|python_tag|> -------------------------------

// Parses calls from text that should be nothing but JSON objects separated by ';' or
// whitespace (or one JSON array of them). Returns how much of `text` was consumed by
// complete calls; what follows the last good call stays content.
size_t parse_json_calls(std::string_view text, tool_call_format format, bool arguments_required,
                        std::vector<tool_call>& calls) {
  size_t at = skip_space(text, 0);
  if (at < text.size() && text[at] == '[') {
    const size_t end = json_value_end(text, at);
    if (end == std::string_view::npos) return 0;
    json list = parse_json(text.substr(at, end - at));
    if (!list.is_array() || list.empty()) return 0;
    std::vector<tool_call> found;
    for (const json& item : list) {
      auto call = call_from_object(item, format, arguments_required);
      if (!call) return 0;  // one bad element: the whole array stays text
      found.push_back(std::move(*call));
    }
    for (auto& c : found) calls.push_back(std::move(c));
    return end;
  }
  size_t consumed = 0;
  while (at < text.size() && text[at] == '{') {
    const size_t end = json_value_end(text, at);
    if (end == std::string_view::npos) break;
    auto call = call_from_object(parse_json(text.substr(at, end - at)), format, arguments_required);
    if (!call) break;
    calls.push_back(std::move(*call));
    consumed = end;
    at = skip_space(text, end);
    if (at < text.size() && text[at] == ';') at = skip_space(text, at + 1);
  }
  return consumed;
}

void parse_llama3(std::string_view text, parsed_reply& out) {
  std::string_view before, calls_text = text;
  const size_t tag = text.find(python_tag);
  if (tag != std::string_view::npos) {
    before = text.substr(0, tag);
    calls_text = text.substr(tag + python_tag.size());
  } else if (size_t first = skip_space(text, 0); first >= text.size() || (text[first] != '{' && text[first] != '[')) {
    out.content = std::string(text);  // prose: Llama 3 puts a call at the very start or not at all
    return;
  }
  const size_t consumed = parse_json_calls(calls_text, tool_call_format::llama3_json, true, out.tool_calls);
  if (consumed == 0) {
    out.content = std::string(text);  // python_tag code (e.g. brave_search.call(...)) stays text
    return;
  }
  out.content = std::string(before);
  out.content.append(calls_text.substr(consumed));
}

// ---- DeepSeek V3 / R1 / V3.1 ------------------------------------------------------------

// One call's body, between <｜tool▁call▁begin｜> and <｜tool▁call▁end｜>. Two layouts:
//   V3 / R1:  TYPE<｜tool▁sep｜>NAME\n```json\n{...}\n```
//   V3.1:     NAME<｜tool▁sep｜>{...}
std::optional<tool_call> parse_deepseek_call(std::string_view body) {
  const size_t sep = body.find(ds_sep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view left = trim(body.substr(0, sep)), right = trim(body.substr(sep + ds_sep.size()));
  std::string_view name, args;
  if (!right.empty() && right.front() == '{') {
    name = left;
    args = right;
  } else {
    const size_t newline = right.find('\n');
    if (newline == std::string_view::npos) return std::nullopt;
    name = trim(right.substr(0, newline));
    args = trim(right.substr(newline + 1));
    if (args.starts_with("```")) {  // a fenced block: ```json ... ```
      const size_t line_end = args.find('\n');
      if (line_end == std::string_view::npos || !args.ends_with("```") || args.size() < line_end + 4)
        return std::nullopt;
      args = trim(args.substr(line_end + 1, args.size() - 3 - (line_end + 1)));
    }
  }
  if (name.empty() || contains(name, "\n")) return std::nullopt;
  json parsed = parse_json(args);
  if (!parsed.is_object()) return std::nullopt;
  return tool_call{new_call_id(tool_call_format::deepseek_v3), std::string(name), std::move(parsed)};
}

void parse_deepseek(std::string_view text, parsed_reply& out) {
  const size_t begin = text.find(ds_calls_begin);
  if (begin == std::string_view::npos) {
    out.content = std::string(text);
    return;
  }
  const size_t section_start = begin + ds_calls_begin.size();
  size_t section_end = text.find(ds_calls_end, section_start);
  const size_t after_section =
      section_end == std::string_view::npos ? text.size() : section_end + ds_calls_end.size();
  if (section_end == std::string_view::npos) section_end = text.size();  // e.g. stopped at EOS

  std::string leftover;  // calls that did not parse, and anything between them, verbatim
  std::vector<tool_call> calls;
  size_t at = section_start;
  while (at < section_end) {
    const size_t open = text.find(ds_call_begin, at);
    if (open == std::string_view::npos || open >= section_end) break;
    const size_t body_start = open + ds_call_begin.size();
    const size_t close = text.find(ds_call_end, body_start);
    if (close == std::string_view::npos || close > section_end) break;
    auto call = parse_deepseek_call(text.substr(body_start, close - body_start));
    const size_t after = close + ds_call_end.size();
    if (call) {
      leftover.append(trim(text.substr(at, open - at)));
      calls.push_back(std::move(*call));
    } else {
      leftover.append(text.substr(at, after - at));
    }
    at = after;
  }
  if (calls.empty()) {  // nothing usable: the whole section stays as the model wrote it
    out.content = std::string(text);
    return;
  }
  leftover.append(trim(text.substr(at, section_end - at)));
  out.content = std::string(text.substr(0, begin));
  out.content.append(leftover);
  out.content.append(text.substr(after_section));
  out.tool_calls = std::move(calls);
}

// ---- Mistral ----------------------------------------------------------------------------

// After [TOOL_CALLS]: NAME[CALL_ID]ID[ARGS]{...} (Small 3.2, Magistral; [CALL_ID] optional).
// Returns the end of the call, or npos.
size_t parse_mistral_named(std::string_view text, size_t at, std::vector<tool_call>& calls) {
  const size_t args_marker = text.find(mistral_args, at);
  if (args_marker == std::string_view::npos) return std::string_view::npos;
  std::string_view head = text.substr(at, args_marker - at), id;
  if (size_t id_marker = head.find(mistral_call_id); id_marker != std::string_view::npos) {
    id = trim(head.substr(id_marker + mistral_call_id.size()));
    head = head.substr(0, id_marker);
  }
  const std::string_view name = trim(head);
  if (name.empty() || name.find_first_of(" \n[]{}\"") != std::string_view::npos) return std::string_view::npos;
  const size_t json_start = skip_space(text, args_marker + mistral_args.size());
  const size_t end = json_value_end(text, json_start);
  if (end == std::string_view::npos) return std::string_view::npos;
  json args = parse_json(text.substr(json_start, end - json_start));
  if (!args.is_object()) return std::string_view::npos;
  calls.push_back(tool_call{id.empty() ? new_call_id(tool_call_format::mistral) : std::string(id),
                            std::string(name), std::move(args)});
  return end;
}

void parse_mistral(std::string_view text, parsed_reply& out) {
  const size_t marker = text.find(mistral_calls);
  if (marker == std::string_view::npos) {
    out.content = std::string(text);
    return;
  }
  std::vector<tool_call> calls;
  size_t at = marker;
  size_t consumed_to = marker;  // end of the last complete call
  while (at < text.size() && text.substr(at).starts_with(mistral_calls)) {
    const size_t start = skip_space(text, at + mistral_calls.size());
    size_t end = std::string_view::npos;
    if (start < text.size() && text[start] == '[') {  // [TOOL_CALLS][{...}, ...] (v3 / Nemo)
      std::vector<tool_call> found;
      size_t used = parse_json_calls(text.substr(start), tool_call_format::mistral, false, found);
      if (used > 0) {
        end = start + used;
        for (auto& c : found) calls.push_back(std::move(c));
      }
    } else {
      end = parse_mistral_named(text, start, calls);
    }
    if (end == std::string_view::npos) break;
    consumed_to = end;
    at = skip_space(text, end);
  }
  if (calls.empty()) {
    out.content = std::string(text);
    return;
  }
  out.content = std::string(text.substr(0, marker));
  out.content.append(text.substr(consumed_to));
  out.tool_calls = std::move(calls);
}

}  // namespace

tool_call_format detect_tool_call_format(const std::string& source) {
  // Most specific markers first: several templates mention more than one convention
  // (Hermes 3 is a Llama 3.1 fine-tune whose template also says "parameters").
  if (contains(source, "tool▁calls▁begin") || contains(source, "tool▁call▁begin")) return tool_call_format::deepseek_v3;
  if (contains(source, mistral_calls)) return tool_call_format::mistral;
  if (contains(source, hermes_open)) return tool_call_format::hermes;
  // Functionary speaks ipython too, but calls tools as <function=NAME>{...}</function>,
  // which owl does not parse; better no tool calls than wrong ones.
  if (contains(source, "<function=")) return tool_call_format::none;
  if (contains(source, "ipython") && (contains(source, "\"parameters\"") || contains(source, python_tag)))
    return tool_call_format::llama3_json;
  return tool_call_format::none;
}

parsed_reply parse_reply(const std::string& text, tool_call_format format) {
  parsed_reply out;
  try {
    std::string rest;
    split_reasoning(text, out, rest);
    switch (format) {
      case tool_call_format::hermes: parse_hermes(rest, out); break;
      case tool_call_format::llama3_json: parse_llama3(rest, out); break;
      case tool_call_format::deepseek_v3: parse_deepseek(rest, out); break;
      case tool_call_format::mistral: parse_mistral(rest, out); break;
      case tool_call_format::none: out.content = std::move(rest); break;
    }
    out.content = std::string(trim(out.content));
  } catch (const std::exception&) {
    // Only allocation failure can get here; keep the promise of never throwing on output.
    out = parsed_reply{};
    out.content = text;
  }
  return out;
}

}  // namespace owl
