// tool_constraint.cpp — token_constraint for tool_choice "required" / a named function.
//
// The output is checked byte by byte against a small set of "branch states": which tool's
// template (tool_constraint.h) it follows, where it is (prefix, arguments, suffix, done) and,
// in the arguments, the JSON automaton's state. All branches share the prefix up to the tool
// name, so several stay alive only until the name is decided. mask() walks the vocabulary
// sorted by bytes as json_constraint.cpp does, so a prefix shared by many tokens is checked
// once; inside a string of the arguments plain tokens are allowed without a walk.
//
// Special tokens (EOS, Mistral's [TOOL_CALLS]) never appear inside the JSON, but one whose
// text is exactly a piece of the literal markup is allowed there: models are trained to emit
// markers as one token, and parse_reply() only sees the decoded text either way.
#include <algorithm>
#include <limits>
#include <optional>

#include "owl/error.h"
#include "server/json_automaton.h"
#include "server/tool_constraint.h"

namespace owl::server {
namespace {

using namespace json_detail;
using ojson = nlohmann::ordered_json;

// Markers as parse_reply() reads them (src/chat/tool_calls.cpp).
constexpr const char* ds_calls_begin = "<｜tool▁calls▁begin｜>";
constexpr const char* ds_calls_end = "<｜tool▁calls▁end｜>";
constexpr const char* ds_call_begin = "<｜tool▁call▁begin｜>";
constexpr const char* ds_call_end = "<｜tool▁call▁end｜>";
constexpr const char* ds_sep = "<｜tool▁sep｜>";

// The tool's parameters as a schema for an arguments object. Absent: any object. A schema that
// does not say what it is gets "type": "object" — parse_reply() only takes object arguments.
nlohmann::json arguments_schema(const ojson& function, const std::string& where) {
  if (!function.contains("parameters") || function["parameters"].is_null()) return {{"type", "object"}};
  nlohmann::json p = nlohmann::json::parse(function["parameters"].dump());
  if (!p.is_object()) fail(where, "expected parameters to be a JSON schema object, found " + p.dump());
  if (p.contains("type")) {
    if (p["type"] != "object")
      fail(where, "parameters must describe an object, found type " + p["type"].dump(),
           "tool arguments are always a JSON object");
  } else if (!p.contains("anyOf") && !p.contains("oneOf") && !p.contains("$ref") && !p.contains("enum") &&
             !p.contains("const")) {
    p["type"] = "object";
  }
  return p;
}

enum phase : uint8_t { p_prefix, p_json, p_suffix, p_done };

struct branch_state {
  uint32_t branch = 0;
  phase at = p_prefix;
  uint32_t pos = 0;  // bytes of the prefix / suffix matched
  state js;          // the arguments so far (p_json)
};

// A set of branch states stored in a vector that only grows, so that copying one into a level
// of the mask() walk reuses the frames' buffers instead of allocating.
struct multi_state {
  std::vector<branch_state> v;
  size_t n = 0;
  branch_state& push() {
    if (n == v.size()) v.emplace_back();
    return v[n++];
  }
};

struct branch {
  std::string prefix, suffix;
  json_automaton automaton;
};

class tool_constraint final : public token_constraint {
 public:
  tool_constraint(std::shared_ptr<const token_vocabulary> vocab, std::vector<branch> branches,
                  std::vector<int32_t> end_ids)
      : vocab_(std::move(vocab)), branches_(std::move(branches)), end_ids_(std::move(end_ids)) {
    for (uint32_t i = 0; i < branches_.size(); ++i) {
      branch_state& b = state_.push();
      b.branch = i;
      b.at = p_prefix;
      branches_[i].automaton.initial(b.js);
      settle(b);
    }
    levels_.resize(vocab_->max_token_bytes() + 1);
    allowed_.resize(vocab_->size());
  }

  void mask(std::span<float> logits) override {
    std::fill(allowed_.begin(), allowed_.end(), uint8_t{0});
    bool any = false;
    if (!ended_ && state_.n > 0) {
      const branch_state& only = state_.v[0];
      std::optional<uint32_t> room;
      if (state_.n == 1 && only.at == p_json) room = branches_[only.branch].automaton.plain_string_room(only.js);
      if (room) {
        // Plain text cannot close the string, so it cannot reach the suffix either.
        const size_t n = vocab_->plain_upto(*room);
        const auto plain = vocab_->plain_tokens();
        for (size_t i = 0; i < n; ++i) allowed_[static_cast<size_t>(plain[i])] = 1;
        any = n > 0;
        any |= walk(vocab_->non_plain_tokens());
      } else {
        any = walk(vocab_->all_tokens());
      }
      for (int32_t id : vocab_->special_tokens()) {
        if (!feed_token(state_, id, /*literal_only=*/true, scratch_a_, scratch_b_)) continue;
        allowed_[static_cast<size_t>(id)] = 1;
        any = true;
      }
    }
    // End tokens: once a call is complete, or as the way out when nothing else can follow.
    apply_allowed(allowed_, ended_ || !any || complete(), end_ids_, logits);
  }

  void accept(int32_t token) override {
    if (ended_) return;
    if (std::find(end_ids_.begin(), end_ids_.end(), token) != end_ids_.end()) {
      ended_ = true;
      return;
    }
    if (token < 0 || static_cast<size_t>(token) >= vocab_->size() ||
        !feed_token(state_, token, vocab_->is_special(token), scratch_a_, scratch_b_)) {
      state_.n = 0;  // not allowed by mask(): nothing valid can follow any more
      return;
    }
    std::swap(state_, scratch_a_);
  }

  bool complete() const override {
    if (ended_) return true;
    for (size_t i = 0; i < state_.n; ++i)
      if (state_.v[i].at == p_done) return true;
    return false;
  }

 private:
  // Moves a branch past literals that are already fully matched (an empty prefix or suffix).
  void settle(branch_state& b) const {
    const branch& br = branches_[b.branch];
    if (b.at == p_prefix && b.pos == br.prefix.size()) {
      b.at = p_json;
      b.pos = 0;
    }
    if (b.at == p_suffix && b.pos == br.suffix.size()) b.at = p_done;
  }

  // Feeds byte c to every branch state of `in`; the survivors go to `out`. literal_only: the
  // byte belongs to a special token, which may only match literal markup.
  bool feed(const multi_state& in, uint8_t c, multi_state& out, bool literal_only) {
    out.n = 0;
    for (size_t i = 0; i < in.n; ++i) {
      const branch_state& b = in.v[i];
      branch& br = branches_[b.branch];
      switch (b.at) {
        case p_prefix:
        case p_suffix: {
          const std::string& lit = b.at == p_prefix ? br.prefix : br.suffix;
          if (static_cast<uint8_t>(lit[b.pos]) != c) break;
          branch_state& o = out.push();
          o.branch = b.branch;
          o.at = b.at;
          o.pos = b.pos + 1;
          if (b.at == p_prefix && o.pos == lit.size()) br.automaton.initial(o.js);
          settle(o);
          break;
        }
        case p_json: {
          if (literal_only) break;
          // A value that may end here (a closed object, or a number) may also be followed by
          // the suffix: that reading is a branch state of its own.
          if (br.automaton.can_end(b.js) && !br.suffix.empty() && static_cast<uint8_t>(br.suffix[0]) == c) {
            branch_state& o = out.push();
            o.branch = b.branch;
            o.at = p_suffix;
            o.pos = 1;
            settle(o);
          }
          if (br.automaton.only_end(b.js)) break;  // closed: nothing more belongs to the JSON
          branch_state& o = out.push();
          if (!br.automaton.feed_state(b.js, c, o.js)) {
            --out.n;
            break;
          }
          o.branch = b.branch;
          o.at = p_json;
          o.pos = 0;
          if (br.suffix.empty() && br.automaton.only_end(o.js)) o.at = p_done;
          break;
        }
        case p_done: break;
      }
    }
    return out.n > 0;
  }

  // Feeds every byte of a token: `a` ends up with the result (`b` is scratch).
  bool feed_token(const multi_state& in, int32_t id, bool literal_only, multi_state& a, multi_state& b) {
    const std::string& bytes = vocab_->bytes(id);
    if (bytes.empty()) return false;
    const multi_state* from = &in;
    multi_state* to = &a;
    multi_state* spare = &b;
    for (char ch : bytes) {
      if (!feed(*from, static_cast<uint8_t>(ch), *to, literal_only)) return false;
      from = to;
      std::swap(to, spare);
    }
    if (from != &a) std::swap(a, b);
    return true;
  }

  // Marks every token of `tokens` whose bytes some branch accepts from state_.
  bool walk(const token_vocabulary::sorted_tokens& tokens) {
    copy(state_, levels_[0]);
    return mark_accepted_tokens(*vocab_, tokens, allowed_, [&](size_t k, uint8_t byte) {
      return feed(levels_[k], byte, levels_[k + 1], false);
    });
  }

  static void copy(const multi_state& from, multi_state& to) {
    to.n = 0;
    for (size_t i = 0; i < from.n; ++i) to.push() = from.v[i];
  }

  std::shared_ptr<const token_vocabulary> vocab_;
  std::vector<branch> branches_;
  std::vector<int32_t> end_ids_;
  multi_state state_, scratch_a_, scratch_b_;
  std::vector<multi_state> levels_;  // levels_[k]: states after the first k bytes of the token in hand
  std::vector<uint8_t> allowed_;
  bool ended_ = false;
};

}  // namespace

std::vector<tool_call_template> tool_call_templates(tool_call_format format, const ojson& tools,
                                                    const std::string& only_name) {
  if (format == tool_call_format::none)
    fail("tool_choice", "this model's chat template has no tool-call syntax owl knows",
         "tool_choice 'required' or a named function cannot be enforced; use 'auto'");
  if (!tools.is_array() || tools.empty()) fail("tools", "expected a non-empty array of tools");
  std::vector<tool_call_template> out;
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& tool = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object())
      fail(where, "expected {\"type\": \"function\", \"function\": {...}}");
    const ojson& function = tool["function"];
    if (!function.contains("name") || !function["name"].is_string() || function["name"].get<std::string>().empty())
      fail(where + ".function.name", "expected a non-empty string");
    const std::string name = function["name"].get<std::string>();
    if (!only_name.empty() && name != only_name) continue;
    tool_call_template t;
    t.name = name;
    t.parameters = arguments_schema(function, where + ".function.parameters");
    // The name is JSON-escaped inside the JSON formats; key order and spacing follow how the
    // models' templates render calls (tojson: ", " and ": ").
    const std::string quoted = nlohmann::json(name).dump();
    switch (format) {
      case tool_call_format::hermes:
        t.prefix = "<tool_call>\n{\"name\": " + quoted + ", \"arguments\": ";
        t.suffix = "}\n</tool_call>";
        break;
      case tool_call_format::llama3_json:  // Llama 3.1's template writes "parameters"
        t.prefix = "{\"name\": " + quoted + ", \"parameters\": ";
        t.suffix = "}";
        break;
      case tool_call_format::mistral:  // v3 / Nemo: [TOOL_CALLS][{...}]
        t.prefix = "[TOOL_CALLS][{\"name\": " + quoted + ", \"arguments\": ";
        t.suffix = "}]";
        break;
      case tool_call_format::deepseek_v3:
        // The name stands outside any JSON: a raw line, so it must be one.
        if (name.find_first_of("\n\r") != std::string::npos)
          fail(where + ".function.name", "a DeepSeek tool name cannot hold a line break");
        t.prefix = std::string(ds_calls_begin) + ds_call_begin + "function" + ds_sep + name + "\n```json\n";
        t.suffix = std::string("\n```") + ds_call_end + ds_calls_end;
        break;
      case tool_call_format::none: break;
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) fail("tool_choice", "no tool named '" + only_name + "' in tools");
  return out;
}

std::unique_ptr<token_constraint> make_tool_call_constraint(std::shared_ptr<const token_vocabulary> vocab,
                                                            tool_call_format format, const ojson& tools,
                                                            const std::string& only_name,
                                                            std::vector<int32_t> end_ids) {
  if (!vocab) fail("tool call constraint", "no vocabulary given");
  if (end_ids.empty()) fail("tool call constraint", "no end token ids given", "pass the request's stop ids (e.g. EOS)");
  std::vector<branch> branches;
  for (auto& t : tool_call_templates(format, tools, only_name)) {
    schema_graph g;
    try {
      g = compile_schema(&t.parameters);
    } catch (const owl::error& e) {
      fail("tool '" + t.name + "' parameters", e.what());
    }
    branches.push_back(branch{std::move(t.prefix), std::move(t.suffix), json_automaton(std::move(g))});
  }
  return std::make_unique<tool_constraint>(std::move(vocab), std::move(branches), std::move(end_ids));
}

}  // namespace owl::server
