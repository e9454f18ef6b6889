// json_automaton.h — the byte-level JSON automaton behind response_format json_object /
// json_schema (used by json_constraint.cpp; internal).
//
// State: a set of stacks of small frames (root, value-to-start, literal, number, string, key,
// object, array). Usually there is one stack; anyOf/oneOf/type lists fork one stack per
// alternative when a value starts, and the forks die as soon as the bytes rule them out.
// Feeding a byte never needs a lookahead: a number ends when a byte that cannot extend it is
// handed on to its parent.
#pragma once

#include <algorithm>
#include <bit>
#include <optional>
#include <span>
#include <vector>

#include "server/json_schema_graph.h"

namespace owl::server::json_detail {

// Whitespace bytes allowed in one gap between JSON tokens: enough for pretty-printing a few
// levels deep, bounded so that a model cannot loop on whitespace.
constexpr uint8_t max_whitespace = 10;
constexpr size_t max_depth = 96;        // frames on one stack (about 40 levels of nesting)
constexpr uint32_t max_number_bytes = 24;
constexpr int max_guard = 48;           // alternatives/aliases entered without consuming a byte
constexpr size_t max_stacks = 256;      // forks alive at once; more are dropped (see emit)

enum class fkind : uint8_t { root, value, literal, number, string, key, object, array };

// number states
enum : uint8_t { n_start, n_minus, n_zero, n_int, n_dot, n_frac, n_e, n_esign, n_exp };
// string states
enum : uint8_t { s_body, s_escape, s_hex, s_high_backslash, s_high_u, s_low_hex };
// object states
enum : uint8_t { o_start, o_next, o_colon, o_value, o_after };
// array states
enum : uint8_t { a_start, a_next, a_after };

constexpr uint8_t flag_key = 1;   // string frame: a free object key (the parent takes `additional`)
constexpr uint8_t flag_free = 2;  // key frame: names outside `properties` are allowed

struct frame {
  fkind kind = fkind::root;
  uint8_t st = 0;
  uint8_t ws = 0;       // whitespace bytes in the current gap (object / array)
  uint8_t u8_left = 0;  // continuation bytes still due in a UTF-8 character (string / key)
  uint8_t u8_lo = 0x80, u8_hi = 0xBF;  // range of the next continuation byte
  uint8_t flags = 0;
  uint8_t pad = 0;
  int32_t node = -1;
  uint32_t a = 0;  // string: chars; array: items; literal: literal id; number: bytes; key: pos; object: value node
  uint32_t b = 0;  // literal: pos; string: \u value and digit count
  uint64_t m = 0;  // object: properties emitted; key: candidate properties
  bool operator==(const frame&) const = default;
};

// Several stacks stored flat, so copying a state allocates nothing once buffers have grown.
struct state {
  std::vector<frame> frames;
  std::vector<uint32_t> ends;  // end of each stack in `frames`
  void clear() {
    frames.clear();
    ends.clear();
  }
  size_t stacks() const { return ends.size(); }
  std::span<const frame> stack(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return {frames.data() + begin, ends[i] - begin};
  }
};

inline bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
inline int hex_value(uint8_t c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// One byte of raw (unescaped) UTF-8 text inside a string. Returns false when invalid; sets
// `starts_char` when the byte begins a new character.
inline bool utf8_step(frame& f, uint8_t c, bool& starts_char) {
  starts_char = false;
  if (f.u8_left > 0) {
    if (c < f.u8_lo || c > f.u8_hi) return false;
    --f.u8_left;
    f.u8_lo = 0x80;
    f.u8_hi = 0xBF;
    return true;
  }
  if (c < 0x20) return false;  // control characters must be escaped
  starts_char = true;
  if (c < 0x80) return true;
  // Lead bytes with the second-byte ranges that exclude overlong forms and surrogates.
  if (c >= 0xC2 && c <= 0xDF) { f.u8_left = 1; return true; }
  if (c == 0xE0) { f.u8_left = 2; f.u8_lo = 0xA0; return true; }
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) { f.u8_left = 2; return true; }
  if (c == 0xED) { f.u8_left = 2; f.u8_hi = 0x9F; return true; }
  if (c == 0xF0) { f.u8_left = 3; f.u8_lo = 0x90; return true; }
  if (c >= 0xF1 && c <= 0xF3) { f.u8_left = 3; return true; }
  if (c == 0xF4) { f.u8_left = 3; f.u8_hi = 0x8F; return true; }
  return false;
}

class json_automaton {
 public:
  explicit json_automaton(schema_graph g) : g_(std::move(g)), scratch_(max_guard + 2) {}

  const schema_graph& graph() const { return g_; }

  void initial(state& s) const {
    s.clear();
    frame root;
    root.kind = fkind::root;
    frame value;
    value.kind = fkind::value;
    value.node = g_.root;
    s.frames = {root, value};
    s.ends = {2};
  }

  // out = in after byte c. Returns whether any stack survives.
  bool feed_state(const state& in, uint8_t c, state& out) {
    out.clear();
    for (size_t i = 0; i < in.stacks(); ++i) {
      auto src = in.stack(i);
      auto& work = scratch_[0];
      work.assign(src.begin(), src.end());
      feed(work, c, out, 1);
    }
    if (out.stacks() > 1) dedup(out);
    return out.stacks() > 0;
  }

  // Whether the value is complete: some stack has nothing left but numbers that may end here.
  bool can_end(const state& s) const {
    for (size_t i = 0; i < s.stacks(); ++i) {
      auto st = s.stack(i);
      size_t k = st.size();
      while (k > 1 && st[k - 1].kind == fkind::number && number_accepting(st[k - 1])) --k;
      if (k == 1) return true;
    }
    return false;
  }

  // Nothing but the end can follow (a closed root value).
  bool only_end(const state& s) const {
    for (size_t i = 0; i < s.stacks(); ++i)
      if (s.stack(i).size() != 1) return false;
    return s.stacks() > 0;
  }

  // Chars still allowed when the single stack is inside a string body at a character
  // boundary (the plain-token fast path); nullopt otherwise.
  std::optional<uint32_t> plain_string_room(const state& s) const {
    if (s.stacks() != 1) return std::nullopt;
    const frame& f = s.frames[s.ends[0] - 1];
    // A key that may be any name (beside declared ones) takes any plain text: plain tokens
    // have no quote or backslash, so the key stays free whatever they do to the candidates.
    if (f.kind == fkind::key && (f.flags & flag_free) && f.u8_left == 0) return unlimited;
    if (f.kind != fkind::string || f.st != s_body || f.u8_left != 0) return std::nullopt;
    const uint32_t max = f.flags & flag_key ? unlimited : g_.nodes[static_cast<size_t>(f.node)].max_length;
    return max == unlimited ? unlimited : max - f.a;
  }

 private:
  static bool number_accepting(const frame& f) { return f.st == n_zero || f.st == n_int || f.st == n_frac || f.st == n_exp; }

  static void emit(const std::vector<frame>& s, state& out) {
    if (out.stacks() >= max_stacks) return;  // pathological schemas: keep the first forks
    out.frames.insert(out.frames.end(), s.begin(), s.end());
    out.ends.push_back(static_cast<uint32_t>(out.frames.size()));
  }

  static void dedup(state& s) {
    state tmp;
    for (size_t i = 0; i < s.stacks(); ++i) {
      auto a = s.stack(i);
      bool seen = false;
      for (size_t j = 0; j < tmp.stacks() && !seen; ++j) {
        auto b = tmp.stack(j);
        seen = a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
      }
      if (!seen) {
        tmp.frames.insert(tmp.frames.end(), a.begin(), a.end());
        tmp.ends.push_back(static_cast<uint32_t>(tmp.frames.size()));
      }
    }
    if (tmp.stacks() != s.stacks()) s = std::move(tmp);
  }

  const schema_node& node(int32_t i) const { return g_.nodes[static_cast<size_t>(i)]; }

  // Starts a value of schema `n` with byte c on top of stack s (s is consumed).
  void start_value(std::vector<frame>& s, int32_t n, uint8_t c, state& out, int guard) {
    if (guard > max_guard || s.size() >= max_depth) return;
    const schema_node& sn = node(n);
    frame f;
    f.node = n;
    switch (sn.kind) {
      case node_kind::alias:
        start_value(s, sn.target, c, out, guard + 1);
        return;
      case node_kind::alternatives:
        for (int32_t alt : sn.alts) {
          auto& copy = scratch_[static_cast<size_t>(guard)];
          copy = s;
          start_value(copy, alt, c, out, guard + 1);
        }
        return;
      case node_kind::literals:
        for (int32_t lit : sn.literals) {
          const std::string& text = g_.literals[static_cast<size_t>(lit)];
          if (static_cast<uint8_t>(text[0]) != c) continue;
          auto& copy = scratch_[static_cast<size_t>(guard)];
          copy = s;
          if (text.size() > 1) {
            f.kind = fkind::literal;
            f.a = static_cast<uint32_t>(lit);
            f.b = 1;
            copy.push_back(f);
          }
          emit(copy, out);
        }
        return;
      case node_kind::number:
      case node_kind::integer:
        f.kind = fkind::number;
        f.st = n_start;
        s.push_back(f);
        if (number_step(s.back(), c, sn.kind == node_kind::integer)) emit(s, out);
        return;
      case node_kind::string:
        if (c != '"') return;
        f.kind = fkind::string;
        s.push_back(f);
        emit(s, out);
        return;
      case node_kind::object:
        if (c != '{') return;
        f.kind = fkind::object;
        f.st = o_start;
        s.push_back(f);
        emit(s, out);
        return;
      case node_kind::array:
        if (c != '[') return;
        f.kind = fkind::array;
        f.st = a_start;
        s.push_back(f);
        emit(s, out);
        return;
    }
  }

  static bool number_step(frame& f, uint8_t c, bool integer) {
    const bool digit = c >= '0' && c <= '9';
    if (++f.a > max_number_bytes) return false;  // keeps the model from looping on digits
    switch (f.st) {
      case n_start:
        if (c == '-') { f.st = n_minus; return true; }
        [[fallthrough]];
      case n_minus:
        if (c == '0') { f.st = n_zero; return true; }
        if (digit) { f.st = n_int; return true; }
        return false;
      case n_int:
        if (digit) return true;
        [[fallthrough]];
      case n_zero:
        if (integer) return false;
        if (c == '.') { f.st = n_dot; return true; }
        if (c == 'e' || c == 'E') { f.st = n_e; return true; }
        return false;
      case n_dot:
        if (digit) { f.st = n_frac; return true; }
        return false;
      case n_frac:
        if (digit) return true;
        if (c == 'e' || c == 'E') { f.st = n_e; return true; }
        return false;
      case n_e:
        if (c == '+' || c == '-') { f.st = n_esign; return true; }
        [[fallthrough]];
      case n_esign:
        if (digit) { f.st = n_exp; return true; }
        return false;
      case n_exp:
        return digit;
    }
    return false;
  }

  // Byte c inside a string body (or escape). Returns false when invalid; `closed` when c is
  // the closing quote.
  bool string_step(frame& f, uint8_t c, uint32_t min_len, uint32_t max_len, bool& closed) {
    closed = false;
    switch (f.st) {
      case s_body: {
        if (f.u8_left == 0) {
          if (c == '"') {
            if (f.a < min_len) return false;
            closed = true;
            return true;
          }
          if (c == '\\') {
            if (f.a >= max_len) return false;
            f.st = s_escape;
            return true;
          }
        }
        bool starts = false;
        if (!utf8_step(f, c, starts)) return false;
        if (starts) {
          if (f.a >= max_len) return false;
          ++f.a;
        }
        return true;
      }
      case s_escape:
        if (c == 'u') {
          f.st = s_hex;
          f.b = 0;
          return true;
        }
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
          f.st = s_body;
          ++f.a;
          return true;
        }
        return false;
      case s_hex:
      case s_low_hex: {
        const int h = hex_value(c);
        if (h < 0) return false;
        const uint32_t digits = (f.b >> 16) + 1;
        const uint32_t value = ((f.b & 0xFFFF) << 4) | static_cast<uint32_t>(h);
        f.b = (digits << 16) | value;
        if (digits == 2) {
          // First byte of the code unit decides surrogates: a high one must be followed by
          // an escaped low one, and a low one may not stand alone (the JSON would not parse).
          const bool low = value >= 0xDC && value <= 0xDF;
          if (f.st == s_hex && low) return false;
          if (f.st == s_low_hex && !low) return false;
        }
        if (digits == 4) {
          const bool high = (value >> 8) >= 0xD8 && (value >> 8) <= 0xDB;
          if (f.st == s_hex && high) {
            f.st = s_high_backslash;
          } else {
            f.st = s_body;
            ++f.a;
          }
          f.b = 0;
        }
        return true;
      }
      case s_high_backslash:
        if (c != '\\') return false;
        f.st = s_high_u;
        return true;
      case s_high_u:
        if (c != 'u') return false;
        f.st = s_low_hex;
        f.b = 0;
        return true;
    }
    return false;
  }

  // Byte c on a declared-properties key frame.
  bool key_step(std::vector<frame>& s, uint8_t c) {
    frame& f = s.back();
    const schema_node& obj = node(s[s.size() - 2].node);
    const bool free = f.flags & flag_free;
    if (c == '"' && f.u8_left == 0) {
      int found = -1;
      for (uint64_t m = f.m; m; m &= m - 1) {
        const int j = std::countr_zero(m);
        if (obj.properties[static_cast<size_t>(j)].key.size() == f.a) found = j;
      }
      frame& parent = s[s.size() - 2];
      if (found >= 0) {
        parent.a = static_cast<uint32_t>(obj.properties[static_cast<size_t>(found)].node);
        parent.m |= uint64_t{1} << found;
      } else if (free) {
        parent.a = static_cast<uint32_t>(obj.additional);
      } else {
        return false;
      }
      s.pop_back();
      return true;
    }
    uint64_t cand = 0;
    for (uint64_t m = f.m; m; m &= m - 1) {
      const int j = std::countr_zero(m);
      const std::string& key = obj.properties[static_cast<size_t>(j)].key;
      if (f.a < key.size() && static_cast<uint8_t>(key[f.a]) == c) cand |= uint64_t{1} << j;
    }
    bool still_free = false;
    if (free && c != '\\' && c != '"') {
      // No escapes in free keys: an escaped spelling of a declared name would slip past
      // the exclusion below.
      bool starts = false;
      still_free = utf8_step(f, c, starts);
    }
    if (!still_free) {
      f.flags &= static_cast<uint8_t>(~flag_free);
      f.u8_left = 0;
    }
    if (!cand && !still_free) return false;
    f.m = cand;
    ++f.a;
    return true;
  }

  // Feeds byte c to stack s (consumed) and emits the resulting stacks into out.
  void feed(std::vector<frame>& s, uint8_t c, state& out, int guard) {
    if (guard > max_guard) return;
    frame& f = s.back();
    switch (f.kind) {
      case fkind::root:
        return;  // nothing may follow the value
      case fkind::value: {
        const int32_t n = f.node;
        s.pop_back();
        start_value(s, n, c, out, guard);
        return;
      }
      case fkind::literal: {
        const std::string& text = g_.literals[f.a];
        if (static_cast<uint8_t>(text[f.b]) != c) return;
        if (++f.b == text.size()) s.pop_back();
        emit(s, out);
        return;
      }
      case fkind::number: {
        frame saved = f;
        if (number_step(f, c, node(f.node).kind == node_kind::integer)) {
          emit(s, out);
          return;
        }
        if (!number_accepting(saved)) return;
        s.pop_back();  // the number ended; the byte belongs to the parent
        feed(s, c, out, guard + 1);
        return;
      }
      case fkind::string: {
        bool closed = false;
        const bool key = f.flags & flag_key;
        const schema_node& sn = node(f.node);
        if (!string_step(f, c, key ? 0 : sn.min_length, key ? unlimited : sn.max_length, closed)) return;
        if (closed) {
          s.pop_back();
          if (key) s.back().a = static_cast<uint32_t>(node(s.back().node).additional);
        }
        emit(s, out);
        return;
      }
      case fkind::key:
        if (key_step(s, c)) emit(s, out);
        return;
      case fkind::object:
        feed_object(s, c, out, guard);
        return;
      case fkind::array:
        feed_array(s, c, out, guard);
        return;
    }
  }

  // Whitespace between a container's tokens: at most max_whitespace bytes in a row, so a model
  // cannot loop on it. Returns true when c was whitespace (emitted or refused); any other byte
  // resets the count.
  bool container_whitespace(std::vector<frame>& s, frame& f, uint8_t c, state& out) {
    if (!is_ws(c)) {
      f.ws = 0;
      return false;
    }
    if (f.ws < max_whitespace) {
      ++f.ws;
      emit(s, out);
    }
    return true;
  }

  void feed_object(std::vector<frame>& s, uint8_t c, state& out, int guard) {
    frame& f = s.back();
    const schema_node& obj = node(f.node);
    if (container_whitespace(s, f, c, out)) return;
    const uint64_t all = obj.properties.size() >= 64 ? ~uint64_t{0} : (uint64_t{1} << obj.properties.size()) - 1;
    auto may_close = [&] { return (f.m & obj.required_mask) == obj.required_mask; };
    auto more_keys = [&] { return obj.additional >= 0 || (all & ~f.m) != 0; };
    switch (f.st) {
      case o_start:
      case o_next:
        if (c == '}' && f.st == o_start) {
          if (!may_close()) return;
          s.pop_back();
          emit(s, out);
          return;
        }
        if (c != '"' || !more_keys()) return;
        f.st = o_colon;
        {
          frame k;
          k.node = f.node;
          if (obj.properties.empty()) {
            k.kind = fkind::string;
            k.flags = flag_key;
          } else {
            k.kind = fkind::key;
            k.m = all & ~f.m;
            k.flags = obj.additional >= 0 ? flag_free : 0;
          }
          if (s.size() >= max_depth) return;
          s.push_back(k);
        }
        emit(s, out);
        return;
      case o_colon:
        if (c != ':') return;
        f.st = o_value;
        emit(s, out);
        return;
      case o_value: {
        f.st = o_after;
        const auto n = static_cast<int32_t>(f.a);
        start_value(s, n, c, out, guard + 1);
        return;
      }
      case o_after:
        if (c == ',' && more_keys()) {
          f.st = o_next;
          emit(s, out);
        } else if (c == '}' && may_close()) {
          s.pop_back();
          emit(s, out);
        }
        return;
    }
  }

  void feed_array(std::vector<frame>& s, uint8_t c, state& out, int guard) {
    frame& f = s.back();
    const schema_node& arr = node(f.node);
    if (container_whitespace(s, f, c, out)) return;
    if (f.st == a_after) {
      if (c == ',' && f.a < arr.max_items) {
        f.st = a_next;
        emit(s, out);
      } else if (c == ']' && f.a >= arr.min_items) {
        s.pop_back();
        emit(s, out);
      }
      return;
    }
    if (c == ']' && f.st == a_start) {
      if (arr.min_items > 0) return;
      s.pop_back();
      emit(s, out);
      return;
    }
    if (f.a >= arr.max_items) return;
    f.st = a_after;
    ++f.a;
    start_value(s, arr.items, c, out, guard + 1);
  }

  schema_graph g_;
  std::vector<std::vector<frame>> scratch_;  // one per recursion level, reused
};

}  // namespace owl::server::json_detail
