// gguf_test.cpp — the GGUF reader/writer and the tokenizer a GGUF carries.
//
// Round trips of every metadata type and of tensors of several ggml types; version 2 files;
// hostile files, each rejected with an owl::error that names the key or tensor; and every fixture
// tokenizer taken HF -> GGUF -> HF and checked against the `tokenizers` goldens.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "owl/error.h"
#include "owl/tokenizer.h"
#include "test_util.h"

namespace {

using owl::gguf_array;
using owl::gguf_value;
using owl::gguf_value_type;
using vt = owl::gguf_value_type;
namespace gt = owl::ggml_types;
using nlohmann::json;

std::vector<std::byte> pattern_bytes(size_t n, uint8_t seed) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::byte(uint8_t(seed + i * 7));
  return out;
}

// Runs `f`, expects an owl::error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const owl::error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected owl::error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected owl::error mentioning " << (parts.empty() ? "" : parts[0]);
}

owl::gguf_contents parse(const std::vector<std::byte>& bytes) { return owl::parse_gguf(bytes, "test.gguf"); }

// Hand-built GGUF bytes, for versions the writer does not produce and for hostile files.
struct raw {
  std::vector<std::byte> b;
  raw& u8(uint8_t v) { b.push_back(std::byte(v)); return *this; }
  raw& u32(uint32_t v) { for (int i = 0; i < 4; ++i) u8(uint8_t(v >> (8 * i))); return *this; }
  raw& u64(uint64_t v) { for (int i = 0; i < 8; ++i) u8(uint8_t(v >> (8 * i))); return *this; }
  raw& str(const std::string& s) { u64(s.size()); for (char c : s) u8(uint8_t(c)); return *this; }
  raw& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    b.insert(b.end(), {std::byte('G'), std::byte('G'), std::byte('U'), std::byte('F')});
    return u32(version).u64(tensors).u64(kvs);
  }
  raw& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(uint32_t(vt::u32)).u32(v); }
  raw& kv_str(const std::string& key, const std::string& v) { return str(key).u32(uint32_t(vt::string)).str(v); }
  raw& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).u32(uint32_t(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  raw& pad(size_t alignment = 32) {
    while (b.size() % alignment) u8(0);
    return *this;
  }
  raw& zeros(size_t n) { b.resize(b.size() + n, std::byte{0}); return *this; }
};

// Every metadata type, nested arrays, empty and non-ASCII strings.
std::vector<std::pair<std::string, gguf_value>> all_kinds_of_metadata() {
  std::vector<std::pair<std::string, gguf_value>> kv;
  kv.emplace_back("general.architecture", "llama");
  kv.emplace_back("t.u8", uint8_t(250));
  kv.emplace_back("t.i8", int8_t(-128));
  kv.emplace_back("t.u16", uint16_t(65535));
  kv.emplace_back("t.i16", int16_t(-32768));
  kv.emplace_back("t.u32", uint32_t(4000000000u));
  kv.emplace_back("t.i32", int32_t(-2000000000));
  kv.emplace_back("t.f32", 3.25f);
  kv.emplace_back("t.bool.true", true);
  kv.emplace_back("t.bool.false", false);
  kv.emplace_back("t.string.empty", "");
  kv.emplace_back("t.string.unicode", "héllo ▁ 你好 😀 \x01\n\t");
  kv.emplace_back("t.u64", std::numeric_limits<uint64_t>::max());
  kv.emplace_back("t.i64", std::numeric_limits<int64_t>::min());
  kv.emplace_back("t.f64", -1.0e300);
  kv.emplace_back("t.array.u8", gguf_value::make_array<uint8_t>({0, 1, 255}));
  kv.emplace_back("t.array.i8", gguf_value::make_array<int8_t>({-1, 0, 1}));
  kv.emplace_back("t.array.u16", gguf_value::make_array<uint16_t>({1, 65535}));
  kv.emplace_back("t.array.i16", gguf_value::make_array<int16_t>({-2, 2}));
  kv.emplace_back("t.array.u32", gguf_value::make_array<uint32_t>({7}));
  kv.emplace_back("t.array.i32", gguf_value::make_array<int32_t>({-7, 7, 0}));
  kv.emplace_back("t.array.f32", gguf_value::make_array<float>({0.5f, -0.0f, 1e-30f}));
  kv.emplace_back("t.array.bool", gguf_value::make_array<bool>({true, false, true}));
  kv.emplace_back("t.array.string", gguf_value::make_array<std::string>({"", "a b", "▁the", "Ġ", "日本"}));
  kv.emplace_back("t.array.u64", gguf_value::make_array<uint64_t>({0, ~0ull}));
  kv.emplace_back("t.array.i64", gguf_value::make_array<int64_t>({-1, 1}));
  kv.emplace_back("t.array.f64", gguf_value::make_array<double>({1.5, -2.25}));
  kv.emplace_back("t.array.empty", gguf_value::array(vt::f32, {}));
  kv.emplace_back("t.array.empty_strings", gguf_value::array(vt::string, {}));
  gguf_value inner1 = gguf_value::make_array<std::string>({"x", "y"});
  gguf_value inner2 = gguf_value::array(vt::string, {});
  gguf_value mid = gguf_value::array(vt::array, {inner1, inner2});
  kv.emplace_back("t.array.nested", gguf_value::array(vt::array, {mid, gguf_value::array(vt::array, {})}));
  kv.emplace_back("t.array.mixed_inner",
                  gguf_value::array(vt::array, {gguf_value::make_array<int32_t>({1, 2}), gguf_value::make_array<float>({3.0f})}));
  return kv;
}

struct tensor_spec {
  std::string name;
  uint32_t type;
  std::vector<int64_t> shape;
};

const std::vector<tensor_spec> tensor_specs = {
    {"token_embd.weight", gt::f32, {4, 3}},     {"blk.0.attn_norm.weight", gt::f32, {5}},
    {"blk.0.ffn_up.weight", gt::f16, {8, 2}},   {"blk.0.ffn_down.weight", gt::bf16, {2, 2, 2, 2}},
    {"blk.0.attn_q.weight", gt::q4_0, {64, 2}}, {"blk.0.attn_k.weight", gt::q8_0, {32}},
    {"blk.0.attn_v.weight", gt::q4_k, {256, 1, 2}}, {"blk.0.attn_output.weight", gt::q6_k, {512}},
    {"blk.0.ffn_gate.weight", gt::iq4_nl, {32, 3}}, {"output.weight", gt::q5_1, {96, 1}},
};

size_t spec_bytes(const tensor_spec& t) {
  size_t rows = 1;
  for (size_t i = 1; i < t.shape.size(); ++i) rows *= size_t(t.shape[i]);
  return owl::ggml_type_row_bytes(t.type, t.shape[0]) * rows;
}

owl::gguf_writer full_writer(std::vector<std::vector<std::byte>>& data) {
  owl::gguf_writer w;
  for (auto& [k, v] : all_kinds_of_metadata()) w.set(k, v);
  data.clear();
  for (size_t i = 0; i < tensor_specs.size(); ++i) data.push_back(pattern_bytes(spec_bytes(tensor_specs[i]), uint8_t(i)));
  for (size_t i = 0; i < tensor_specs.size(); ++i)
    w.add_tensor(tensor_specs[i].name, tensor_specs[i].type, tensor_specs[i].shape, data[i]);
  return w;
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(GgufRoundTrip, EveryValueTypeAndTensorType) {
  owl::test::temp_dir dir("gguf");
  std::vector<std::vector<std::byte>> data;
  owl::gguf_writer w = full_writer(data);
  const auto path = dir / "model.gguf";
  w.write(path);
  auto file = owl::gguf_file::open(path);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);

  std::map<std::string, gguf_value> expected;
  for (auto& [k, v] : all_kinds_of_metadata()) expected.emplace(k, v);
  EXPECT_EQ(file->metadata().size(), expected.size());
  for (const auto& [k, v] : expected) {
    const gguf_value* got = file->find(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_TRUE(*got == v) << k;
    EXPECT_EQ(got->type(), v.type()) << k;
  }
  EXPECT_TRUE(file->metadata() == expected);
  // -0.0f keeps its sign bit.
  const auto& f32s = file->get_array("t.array.f32").items;
  EXPECT_TRUE(std::signbit(*f32s[1].get_if<float>()));

  ASSERT_EQ(file->tensors().size(), tensor_specs.size());
  const std::byte* base = nullptr;
  for (size_t i = 0; i < tensor_specs.size(); ++i) {
    const owl::gguf_tensor_info& t = file->tensors()[i];
    EXPECT_EQ(t.name, tensor_specs[i].name);
    EXPECT_EQ(t.ggml_type, tensor_specs[i].type);
    EXPECT_EQ(t.shape, tensor_specs[i].shape);
    ASSERT_EQ(t.nbytes, data[i].size());
    EXPECT_EQ(std::memcmp(t.data, data[i].data(), t.nbytes), 0) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    if (i == 0) base = t.data - t.offset;
    EXPECT_EQ(t.data, base + t.offset);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << "mmap'd data section is page-aligned";
    EXPECT_EQ(file->find_tensor(t.name), &t);
  }
  EXPECT_EQ(file->find_tensor("nope"), nullptr);
  expect_error([&] { file->get_tensor("nope"); }, {"model.gguf", "tensor 'nope'", "not found"});

  // The same bytes in memory.
  const std::vector<std::byte> bytes = w.to_bytes();
  const std::string on_disk = owl::test::read_file(path);
  ASSERT_EQ(on_disk.size(), bytes.size());
  EXPECT_EQ(std::memcmp(on_disk.data(), bytes.data(), bytes.size()), 0);
  owl::gguf_contents c = parse(bytes);
  EXPECT_TRUE(c.metadata == expected);
  EXPECT_EQ(c.data_offset % 32, 0u);
}

TEST(GgufRoundTrip, TypedGetters) {
  std::vector<std::vector<std::byte>> data;
  owl::gguf_writer w = full_writer(data);
  owl::gguf_contents c = parse(w.to_bytes());
  owl::gguf_metadata_reader md(c.metadata, "m.gguf");
  EXPECT_EQ(md.get_string("general.architecture"), "llama");
  EXPECT_EQ(md.get_u64("t.u8"), 250u);
  EXPECT_EQ(md.get_u64("t.u32"), 4000000000u);
  EXPECT_EQ(md.get_i64("t.i8"), -128);
  EXPECT_EQ(md.get_f32("t.f32"), 3.25f);
  EXPECT_EQ(md.get_f32("t.i32"), -2000000000.0f);
  EXPECT_TRUE(md.get_bool("t.bool.true"));
  EXPECT_EQ(md.get_array("t.array.string", vt::string).items.size(), 5u);
  EXPECT_FALSE(md.find_u64("absent").has_value());
  expect_error([&] { md.get_string("t.u32"); }, {"m.gguf", "key 't.u32'", "expected a string, found a u32"});
  expect_error([&] { md.get_u64("t.i8"); }, {"key 't.i8'", "non-negative", "-128"});
  expect_error([&] { md.get_i64("t.u64"); }, {"key 't.u64'", "fits in 64 signed bits"});
  expect_error([&] { md.get_bool("t.string.empty"); }, {"key 't.string.empty'", "expected a bool, found a string"});
  expect_error([&] { md.get_array("t.array.f32", vt::i32); }, {"key 't.array.f32'", "array of i32", "array of f32"});
  expect_error([&] { md.get_array("t.u8"); }, {"key 't.u8'", "expected an array"});
  expect_error([&] { md.get_string("missing.key"); }, {"key 'missing.key'", "missing key"});
}

TEST(GgufRoundTrip, CustomAlignmentAndNoTensors) {
  owl::gguf_writer w;
  w.set("general.alignment", uint32_t(256));
  w.set("general.name", "aligned");
  auto a = pattern_bytes(4 * 3, 1), b = pattern_bytes(2 * 5, 2);
  w.add_tensor("a", gt::f32, {3}, a);
  w.add_tensor("b", gt::f16, {5}, std::vector<std::byte>(b));
  const std::vector<std::byte> bytes = w.to_bytes();  // the views point into it
  owl::gguf_contents c = parse(bytes);
  EXPECT_EQ(c.alignment, 256u);
  EXPECT_EQ(c.data_offset % 256, 0u);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].offset, 0u);
  EXPECT_EQ(c.tensors[1].offset, 256u);
  EXPECT_EQ(std::memcmp(c.tensors[1].data, b.data(), b.size()), 0);

  owl::gguf_writer empty;
  owl::gguf_contents e = parse(empty.to_bytes());
  EXPECT_TRUE(e.metadata.empty());
  EXPECT_TRUE(e.tensors.empty());
  // A vocabulary-only file may end right after its metadata, without padding.
  raw r;
  r.header(0, 1).kv_str("general.name", "x");
  EXPECT_EQ(parse(r.b).metadata.at("general.name"), gguf_value("x"));
}

TEST(GgufRoundTrip, ReadsVersion2) {
  raw r;
  r.header(2, 2, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 1);
  r.tensor("w", {2, 2}, gt::f32, 0).tensor("v", {32}, gt::q8_0, 32).pad();
  const auto w = pattern_bytes(16, 3), v = pattern_bytes(34, 4);
  r.b.insert(r.b.end(), w.begin(), w.end());
  r.zeros(16);
  r.b.insert(r.b.end(), v.begin(), v.end());
  owl::gguf_contents c = parse(r.b);
  EXPECT_EQ(c.version, 2u);
  EXPECT_EQ(c.metadata.at("general.architecture"), gguf_value("llama"));
  EXPECT_EQ(c.metadata.at("llama.block_count"), gguf_value(uint32_t(1)));
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[1].nbytes, 34u);
  EXPECT_EQ(std::memcmp(c.tensors[1].data, v.data(), 34), 0);
}

TEST(GgufRoundTrip, RowBytes) {
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::f32, 10), 40u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::f16, 10), 20u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::bf16, 10), 20u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q4_0, 64), 36u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q4_1, 32), 20u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q5_0, 32), 22u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q5_1, 32), 24u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q8_0, 32), 34u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q8_1, 32), 36u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q2_k, 256), 84u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q3_k, 256), 110u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q4_k, 512), 288u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q5_k, 256), 176u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q6_k, 256), 210u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::q8_k, 256), 292u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::iq4_nl, 32), 18u);
  EXPECT_EQ(owl::ggml_type_row_bytes(gt::iq4_xs, 256), 136u);
  expect_error([] { owl::ggml_type_row_bytes(4, 32); }, {"unknown ggml type id 4"});
  expect_error([] { owl::ggml_type_row_bytes(gt::q4_0, 33); }, {"Q4_0", "33", "block size 32"});
}

TEST(GgufWriter, RejectsWhatTheReaderWould) {
  owl::gguf_writer w;
  auto four = pattern_bytes(4, 0);
  w.add_tensor("a", gt::f32, {1}, four);
  expect_error([&] { w.add_tensor("a", gt::f32, {1}, four); }, {"tensor 'a'", "duplicate"});
  expect_error([&] { w.add_tensor("b", gt::f32, {2}, four); }, {"tensor 'b'", "wrong byte size", "expected 8"});
  expect_error([&] { w.add_tensor("c", 99, {1}, four); }, {"tensor 'c'", "unknown ggml type 99"});
  expect_error([&] { w.add_tensor("d", gt::f32, {1, 0}, four); }, {"tensor 'd'", "ne[1] is 0"});
  expect_error([&] { w.add_tensor("e", gt::f32, {1, 1, 1, 1, 1}, four); }, {"tensor 'e'", "1 to 4"});
  expect_error([&] { w.add_tensor("f", gt::q4_0, {16}, four); }, {"tensor 'f'", "block size 32"});
  expect_error([&] { w.set("general.alignment", uint32_t(48)); }, {"general.alignment", "power of two"});
  expect_error([&] { w.set("general.alignment", uint64_t(64)); }, {"general.alignment", "expected a u32"});
  expect_error([&] { w.set("x", gguf_value::array(vt::u8, {gguf_value(1)})); }, {"key 'x'", "holds a i32", "index 0"});
  expect_error([&] { w.set("", 1); }, {"empty key"});
  gguf_value deep = gguf_value::array(vt::u8, {});
  for (int i = 0; i < 9; ++i) deep = gguf_value::array(vt::array, {deep});
  expect_error([&] { w.set("deep", deep); }, {"key 'deep'", "nested"});
  w.set("k", 1);
  w.set("k", "replaced");
  EXPECT_EQ(*w.find("k"), gguf_value("replaced"));
  expect_error([&] { w.write("/nonexistent-dir/x.gguf"); }, {"/nonexistent-dir/x.gguf", "temporary file"});
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs

TEST(GgufHostile, MagicAndVersion) {
  expect_error([] { parse({}); }, {"test.gguf", "bad magic", "0-byte file"});
  raw bad;
  bad.u32(0x67676d6c).u32(1);
  expect_error([&] { parse(bad.b); }, {"bad magic", "pre-GGUF"});
  raw v1;
  v1.header(0, 0, 1);
  expect_error([&] { parse(v1.b); }, {"test.gguf", "version 1 is not supported"});
  raw v4;
  v4.header(0, 0, 4);
  expect_error([&] { parse(v4.b); }, {"unsupported GGUF version 4"});
  raw be;
  be.header(0, 0, 0x03000000);
  expect_error([&] { parse(be.b); }, {"big-endian"});
  raw short_header;
  short_header.header(0, 0).b.resize(12);
  expect_error([&] { parse(short_header.b); }, {"truncated", "tensor count"});
}

TEST(GgufHostile, HugeCounts) {
  raw kvs;
  kvs.header(0, uint64_t(1) << 62).zeros(64);
  expect_error([&] { parse(kvs.b); }, {"key/value count", "impossible"});
  raw tensors;
  tensors.header(~0ull, 0).zeros(64);
  expect_error([&] { parse(tensors.b); }, {"tensor count", "impossible"});
  raw array;
  array.header(0, 1).str("big").u32(uint32_t(vt::array)).u32(uint32_t(vt::u64)).u64(uint64_t(1) << 61).zeros(64);
  expect_error([&] { parse(array.b); }, {"key 'big'", "array of 2305843009213693952 u64", "bytes are left"});
  raw strings;
  strings.header(0, 1).str("s").u32(uint32_t(vt::array)).u32(uint32_t(vt::string)).u64(1000).zeros(64);
  expect_error([&] { parse(strings.b); }, {"key 's'", "array of 1000 string"});
}

TEST(GgufHostile, Strings) {
  raw key;
  key.header(0, 1).u64(1000).zeros(20);
  expect_error([&] { parse(key.b); }, {"metadata entry 0", "key length 1000", "past the end"});
  raw value;
  value.header(0, 1).str("general.name").u32(uint32_t(vt::string)).u64(~0ull).zeros(20);
  expect_error([&] { parse(value.b); }, {"key 'general.name'", "exceeds the limit"});
  raw value2;
  value2.header(0, 1).str("general.name").u32(uint32_t(vt::string)).u64(50).zeros(20);
  expect_error([&] { parse(value2.b); }, {"key 'general.name'", "value length 50", "past the end"});
  raw item;
  item.header(0, 1).str("tok").u32(uint32_t(vt::array)).u32(uint32_t(vt::string)).u64(2).str("ok").u64(999).zeros(16);
  expect_error([&] { parse(item.b); }, {"key 'tok'", "value[1] length 999"});
  raw empty_key;
  empty_key.header(0, 1).str("").u32(0).u8(0).zeros(8);
  expect_error([&] { parse(empty_key.b); }, {"metadata entry 0", "empty key"});
}

TEST(GgufHostile, ValuesAndNesting) {
  raw nested;
  nested.header(0, 1).str("deep").u32(uint32_t(vt::array));
  for (int i = 0; i < 20; ++i) nested.u32(uint32_t(vt::array)).u64(1);
  nested.zeros(64);
  expect_error([&] { parse(nested.b); }, {"key 'deep'", "nested more than 8 deep"});
  raw type;
  type.header(0, 1).str("k").u32(13).zeros(16);
  expect_error([&] { parse(type.b); }, {"key 'k'", "unknown value type 13"});
  raw item_type;
  item_type.header(0, 1).str("k").u32(uint32_t(vt::array)).u32(77).u64(1).zeros(16);
  expect_error([&] { parse(item_type.b); }, {"key 'k'", "unknown array item type 77"});
  raw boolean;
  boolean.header(0, 1).str("flag").u32(uint32_t(vt::boolean)).u8(2);
  expect_error([&] { parse(boolean.b); }, {"key 'flag'", "expected 0 or 1"});
  raw dup;
  dup.header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
  expect_error([&] { parse(dup.b); }, {"key 'a.b'", "duplicate key"});
}

TEST(GgufHostile, Alignment) {
  raw odd;
  odd.header(0, 1).kv_u32("general.alignment", 48);
  expect_error([&] { parse(odd.b); }, {"key 'general.alignment'", "alignment 48 is not a power of two"});
  raw zero;
  zero.header(0, 1).kv_u32("general.alignment", 0);
  expect_error([&] { parse(zero.b); }, {"key 'general.alignment'", "not a power of two"});
  raw wide;
  wide.header(0, 1).str("general.alignment").u32(uint32_t(vt::u64)).u64(32);
  expect_error([&] { parse(wide.b); }, {"key 'general.alignment'", "expected a u32, found u64"});
}

// One tensor info + data, for the tensor checks.
raw one_tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data) {
  raw r;
  r.header(1, 0).tensor(name, std::move(dims), type, offset).pad().zeros(data);
  return r;
}

TEST(GgufHostile, TensorInfos) {
  expect_error([] { parse(one_tensor("w", {4}, gt::f32, 4, 64).b); },
               {"tensor 'w'", "offset 4 is not a multiple of the alignment 32"});
  expect_error([] { parse(one_tensor("w", {4}, gt::f32, 64, 64).b); }, {"tensor 'w'", "past the end"});
  expect_error([] { parse(one_tensor("w", {4}, gt::f32, 0, 8).b); }, {"tensor 'w'", "past the end"});
  expect_error([] { parse(one_tensor("w", {4}, gt::f32, ~0ull << 5, 8).b); }, {"tensor 'w'", "past the end"});
  expect_error([] { parse(one_tensor("w", {4}, 99, 0, 64).b); }, {"tensor 'w'", "unknown ggml type 99"});
  expect_error([] { parse(one_tensor("w", {4}, 4, 0, 64).b); }, {"tensor 'w'", "unknown ggml type 4"});
  expect_error([] { parse(one_tensor("w", {4, 0}, gt::f32, 0, 64).b); }, {"tensor 'w'", "ne[1] is 0"});
  expect_error([] { parse(one_tensor("w", {~0ull}, gt::f32, 0, 64).b); }, {"tensor 'w'", "ne[0] is -1 (negative)"});
  expect_error([] { parse(one_tensor("w", {uint64_t(1) << 40, uint64_t(1) << 40}, gt::f32, 0, 64).b); },
               {"tensor 'w'", "overflows"});
  expect_error([] { parse(one_tensor("w", {uint64_t(1) << 62}, gt::f32, 0, 64).b); }, {"tensor 'w'", "byte size", "overflows"});
  expect_error([] { parse(one_tensor("w", {uint64_t(1) << 40}, gt::f32, 0, 64).b); }, {"tensor 'w'", "past the end"});
  expect_error([] { parse(one_tensor("w", {1, 1, 1, 1, 1}, gt::f32, 0, 64).b); }, {"tensor 'w'", "n_dims is 5"});
  expect_error([] { parse(one_tensor("w", {}, gt::f32, 0, 64).b); }, {"tensor 'w'", "n_dims is 0"});
  expect_error([] { parse(one_tensor("w", {33}, gt::q4_0, 0, 64).b); },
               {"tensor 'w'", "ne[0] = 33", "Q4_0 block size 32"});
  expect_error([] { parse(one_tensor("", {1}, gt::f32, 0, 64).b); }, {"tensor info 0", "empty tensor name"});

  raw dup;
  dup.header(2, 0).tensor("w", {4}, gt::f32, 0).tensor("w", {4}, gt::f32, 32).pad().zeros(64);
  expect_error([&] { parse(dup.b); }, {"tensor 'w'", "duplicate tensor name"});
  raw overlap;
  overlap.header(2, 0).tensor("a", {16}, gt::f32, 0).tensor("b", {4}, gt::f32, 32).pad().zeros(128);
  expect_error([&] { parse(overlap.b); }, {"tensor 'b'", "overlaps tensor 'a'"});
  raw same;
  same.header(2, 0).tensor("a", {4}, gt::f32, 0).tensor("b", {4}, gt::f32, 0).pad().zeros(64);
  expect_error([&] { parse(same.b); }, {"overlaps tensor"});
  raw no_data;
  no_data.header(1, 0).tensor("w", {1}, gt::f32, 0);
  expect_error([&] { parse(no_data.b); }, {"test.gguf", "truncated", "data section"});
}

TEST(GgufHostile, TruncatedAtEverySixteenth) {
  std::vector<std::vector<std::byte>> data;
  const std::vector<std::byte> bytes = full_writer(data).to_bytes();
  ASSERT_NO_THROW(parse(bytes));
  for (size_t k = 0; k < 16; ++k) {
    const size_t n = bytes.size() * k / 16;
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + long(n));
    cut.shrink_to_fit();
    expect_error([&] { parse(cut); }, {"test.gguf"});
  }
  // And every single byte near the header/metadata boundary.
  for (size_t n = 0; n < 600; ++n) {
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + long(n));
    EXPECT_THROW(parse(cut), owl::error) << n;
  }
}

TEST(GgufHostile, OpenNamesTheFile) {
  owl::test::temp_dir dir("gguf");
  owl::test::write_file(dir / "bad.gguf", "GGUF\x01\0\0\0");
  expect_error([&] { owl::gguf_file::open(dir / "bad.gguf"); }, {"bad.gguf", "version"});
  expect_error([&] { owl::gguf_file::open(dir / "missing.gguf"); }, {"missing.gguf"});
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

const std::vector<std::string> tokenizer_names = {"mistral", "llama3_1", "qwen3", "deepseek_v3", "pythia", "olmo", "gpt2"};

struct converted {
  std::unique_ptr<owl::tokenizer> tok;
  std::map<std::string, gguf_value> metadata;
};

// HF folder -> GGUF file -> tokenizer JSON -> owl::tokenizer, once per folder.
const converted& convert(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<converted>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[name];
  if (!slot) {
    const auto dir = name == "stories260K" ? owl::test::fixtures() / "stories260K" : owl::test::fixtures() / "tokenizers" / name;
    owl::test::temp_dir tmp("gguf-tok");
    owl::gguf_writer w;
    w.set("general.architecture", "llama");
    owl::tokenizer_to_gguf(dir, w);
    w.write(tmp / "tok.gguf");
    auto file = owl::gguf_file::open(tmp / "tok.gguf");
    const owl::gguf_tokenizer_json j = owl::tokenizer_from_gguf(*file);
    slot = std::make_unique<converted>();
    slot->tok = owl::tokenizer::from_json(j.tokenizer_json, j.tokenizer_config_json, name + " (from GGUF)");
    slot->metadata = file->metadata();
  }
  return *slot;
}

std::string show(const std::string& text) {
  std::string out = json(text).dump();
  return out.size() > 80 ? out.substr(0, 77) + "..." : out;
}

class GgufTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufTokenizer, GoldenAfterRoundTrip) {
  const converted& c = convert(GetParam());
  const json g = owl::test::read_json(owl::test::fixtures() / "golden" / "tokenizers" / (GetParam() + ".json"));
  size_t passed = 0, total = 0;
  for (const auto& k : g["cases"]) {
    const std::string text = k["text"].get<std::string>();
    const auto ids = k["ids"].get<std::vector<int32_t>>();
    const auto got = c.tok->encode(text, false);
    EXPECT_EQ(got, ids) << "encode " << show(text);
    EXPECT_EQ(c.tok->decode(ids), k["decoded"].get<std::string>()) << "decode " << show(text);
    EXPECT_EQ(c.tok->encode(text, true), k["ids_with_specials"].get<std::vector<int32_t>>()) << "with specials " << show(text);
    passed += got == ids;
    ++total;
  }
  std::printf("[ gguf tokenizer ] %s: %zu/%zu cases\n", GetParam().c_str(), passed, total);
  EXPECT_EQ(total, g["cases"].size());
  EXPECT_GT(total, 0u);
}

TEST_P(GgufTokenizer, SameSpecialsAsTheOriginal) {
  const converted& c = convert(GetParam());
  auto original = owl::tokenizer::from_dir(owl::test::fixtures() / "tokenizers" / GetParam());
  EXPECT_EQ(c.tok->vocab_size(), original->vocab_size());
  EXPECT_EQ(c.tok->bos_id(), original->bos_id());
  EXPECT_EQ(c.tok->eos_id(), original->eos_id());
  for (int32_t id = 0; id < int32_t(original->vocab_size()); id += 97) {
    EXPECT_EQ(c.tok->token_piece(id), original->token_piece(id)) << id;
    EXPECT_EQ(c.tok->is_special(id), original->is_special(id)) << id;
  }
  const std::string model = c.metadata.at("tokenizer.ggml.model") == gguf_value("llama") ? "llama" : "gpt2";
  EXPECT_EQ(model, GetParam() == "mistral" ? "llama" : "gpt2");
}

INSTANTIATE_TEST_SUITE_P(GgufFixtures, GgufTokenizer, ::testing::ValuesIn(tokenizer_names),
                         [](const auto& info) { return info.param; });

TEST(GgufTokenizerStories, PromptsAndGreedyText) {
  const converted& c = convert("stories260K");
  const json g = owl::test::read_json(owl::test::fixtures() / "golden" / "stories260K.json");
  for (const auto& k : g["cases"]) {
    EXPECT_EQ(c.tok->encode(k["prompt"].get<std::string>(), true), k["prompt_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(c.tok->decode(k["greedy_ids"].get<std::vector<int32_t>>()), k["greedy_text"].get<std::string>());
  }
  const auto& p = g["perplexity_case"];
  EXPECT_EQ(c.tok->encode(p["text"].get<std::string>(), true), p["ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(c.tok->vocab_size(), 512u);
  EXPECT_EQ(c.tok->bos_id(), 1);
  EXPECT_EQ(c.tok->eos_id(), 2);
  EXPECT_EQ(c.metadata.at("tokenizer.ggml.model"), gguf_value("llama"));
  EXPECT_EQ(c.metadata.at("tokenizer.ggml.scores").get_if<gguf_array>()->items.size(), 512u);
}

// A SentencePiece vocabulary written by hand: merges come from the scores.
owl::gguf_writer tiny_sentencepiece() {
  owl::gguf_writer w;
  w.set("tokenizer.ggml.model", "llama");
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "▁", "a", "b", "c", "ab", "▁ab", "bc", "▁a", "<0x41>"};
  w.set("tokenizer.ggml.tokens", gguf_value::make_array(tokens));
  w.set("tokenizer.ggml.scores", gguf_value::make_array<float>({0, 0, 0, -9, -10, -11, -12, -1, -2, -3, -4, 0}));
  w.set("tokenizer.ggml.token_type", gguf_value::make_array<int32_t>({2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6}));
  w.set("tokenizer.ggml.bos_token_id", uint32_t(1));
  w.set("tokenizer.ggml.eos_token_id", uint32_t(2));
  return w;
}

owl::gguf_tokenizer_json from_writer(const owl::gguf_writer& w) {
  owl::gguf_contents c = parse(w.to_bytes());
  return owl::tokenizer_from_gguf(owl::gguf_metadata_reader(c.metadata, "tok.gguf"));
}

TEST(GgufTokenizerSentencePiece, MergesFromScores) {
  const owl::gguf_tokenizer_json j = from_writer(tiny_sentencepiece());
  const json doc = json::parse(j.tokenizer_json);
  // ab (-1) first; ▁ab (-2) splits as ▁+ab and ▁a+b; bc (-3); ▁a (-4).
  const json expected = json::parse(R"([["a","b"],["▁","ab"],["▁a","b"],["b","c"],["▁","a"]])");
  EXPECT_EQ(doc["model"]["merges"], expected);
  EXPECT_EQ(doc["model"]["unk_token"], "<unk>");
  EXPECT_TRUE(doc["model"]["byte_fallback"].get<bool>());
  auto tok = owl::tokenizer::from_json(j.tokenizer_json, j.tokenizer_config_json, "tiny");
  EXPECT_EQ(tok->encode("ab abc", false), (std::vector<int32_t>{8, 8, 6}));
  EXPECT_EQ(tok->encode("ab", true), (std::vector<int32_t>{1, 8}));
  EXPECT_EQ(tok->encode("A", false), (std::vector<int32_t>{3, 11}));  // byte fallback
  EXPECT_EQ(tok->decode(std::vector<int32_t>{1, 8, 8, 6}), "<s> ab abc");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{8, 8, 6}), "ab abc");
  const json config = json::parse(j.tokenizer_config_json);
  EXPECT_EQ(config["bos_token"], "<s>");
  EXPECT_TRUE(config["add_bos_token"].get<bool>());
}

TEST(GgufTokenizerErrors, ClearMessages) {
  {
    owl::gguf_writer w;
    expect_error([&] { from_writer(w); }, {"tok.gguf", "tokenizer.ggml.model", "no tokenizer"});
    w.set("tokenizer.ggml.model", "bert");
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.model", "unsupported tokenizer model 'bert'"});
  }
  {
    owl::gguf_writer w = tiny_sentencepiece();
    w.set("tokenizer.ggml.token_type", gguf_value::make_array<int32_t>({1, 2}));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.token_type", "2 entries", "12"});
  }
  {
    owl::gguf_writer w = tiny_sentencepiece();
    w.set("tokenizer.ggml.bos_token_id", uint32_t(500));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.bos_token_id", "500 is out of range"});
  }
  {
    owl::gguf_writer w = tiny_sentencepiece();
    std::vector<float> scores(12, 0.0f);
    scores[5] = std::nanf("");
    w.set("tokenizer.ggml.scores", gguf_value::make_array(scores));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.scores[5]", "not finite"});
  }
  {
    owl::gguf_writer w = tiny_sentencepiece();
    w.set("tokenizer.ggml.tokens", gguf_value::make_array<int32_t>({1}));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.tokens", "expected an array of string"});
  }
  {
    owl::gguf_writer w;
    w.set("tokenizer.ggml.model", "gpt2");
    w.set("tokenizer.ggml.tokens", gguf_value::make_array<std::string>({"a", "b", "ab"}));
    w.set("tokenizer.ggml.merges", gguf_value::make_array<std::string>({"a b"}));
    w.set("tokenizer.ggml.pre", "mystery");
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.pre", "unknown pre-tokenizer 'mystery'", "'llama-bpe'"});
    w.set("tokenizer.ggml.pre", "gpt-2");
    EXPECT_NO_THROW(from_writer(w));
    w.set("tokenizer.ggml.merges", gguf_value::make_array<std::string>({"a b", "b c"}));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.merges[1]", "'c' is not in tokenizer.ggml.tokens"});
    w.set("tokenizer.ggml.merges", gguf_value::make_array<std::string>({"ab"}));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.merges[0]", "not two tokens"});
    w.set("tokenizer.ggml.merges", gguf_value::make_array<std::string>({"a b"}));
    w.set("tokenizer.ggml.tokens", gguf_value::make_array<std::string>({"a", "b", "a\xff"}));
    expect_error([&] { from_writer(w); }, {"tokenizer.ggml.tokens[2]", "not valid UTF-8"});
  }
}

TEST(GgufTokenizerErrors, UnrepresentableHfTokenizers) {
  owl::test::temp_dir dir("gguf-hf");
  auto write_tok = [&](const json& j) { owl::test::write_file(dir / "tokenizer.json", j.dump()); };
  json base = {{"model",
                {{"type", "BPE"},
                 {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}},
                 {"merges", json::array({"a b"})}}},
               {"pre_tokenizer",
                {{"type", "Sequence"},
                 {"pretokenizers",
                  json::array({{{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}, {"invert", false}},
                               {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}}};
  write_tok(base);
  owl::gguf_writer w;
  expect_error([&] { owl::tokenizer_to_gguf(dir.path(), w); },
               {"tokenizer.json: pre_tokenizer", "unknown byte-level pre-tokenizer", "\\\\w+"});
  json wordpiece = base;
  wordpiece["model"]["type"] = "WordPiece";
  write_tok(wordpiece);
  expect_error([&] { owl::tokenizer_to_gguf(dir.path(), w); }, {"model.type", "'WordPiece'"});
  json sp = {{"model",
              {{"type", "BPE"},
               {"byte_fallback", true},
               {"vocab", {{"▁", 0}, {"a", 1}, {"b", 2}, {"ab", 3}, {"▁a", 4}}},
               {"merges", json::array({"a b"})}}},
             {"normalizer",
              {{"type", "Sequence"},
               {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "▁"}},
                                            {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}})}}}};
  write_tok(sp);
  expect_error([&] { owl::tokenizer_to_gguf(dir.path(), w); },
               {"model.merges", "not the SentencePiece merges", "merge 1: expected '\\xe2\\x96\\x81 a', found none"});
  sp["model"]["merges"] = json::array({"a b", "▁ a"});
  write_tok(sp);
  EXPECT_NO_THROW(owl::tokenizer_to_gguf(dir.path(), w));
  EXPECT_EQ(*w.find("tokenizer.ggml.model"), gguf_value("llama"));
  sp["post_processor"] = {{"type", "RobertaProcessing"}};
  write_tok(sp);
  expect_error([&] { owl::tokenizer_to_gguf(dir.path(), w); }, {"post_processor", "'RobertaProcessing'"});
  owl::test::write_file(dir / "tokenizer.json", "{not json");
  expect_error([&] { owl::tokenizer_to_gguf(dir.path(), w); }, {"tokenizer.json", "malformed JSON"});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Seed corpus for fuzz/fuzz_gguf.cpp. Regenerate with
//   owl_tests --gtest_also_run_disabled_tests --gtest_filter='GgufCorpus.*'
namespace {

std::vector<std::pair<std::string, std::vector<std::byte>>> corpus_seeds() {
  std::vector<std::pair<std::string, std::vector<std::byte>>> seeds;
  auto add = [&](const std::string& name, std::vector<std::byte> b) { seeds.emplace_back(name, std::move(b)); };
  {
    owl::gguf_writer w;
    for (auto& [k, v] : all_kinds_of_metadata()) w.set(k, v);
    w.add_tensor("f32", gt::f32, {4, 2}, pattern_bytes(32, 1));
    w.add_tensor("q4_0", gt::q4_0, {32, 2}, pattern_bytes(36, 2));
    w.add_tensor("q4_k", gt::q4_k, {256}, pattern_bytes(144, 3));
    add("valid_all_types", w.to_bytes());
  }
  {
    owl::gguf_writer w;
    w.set("general.alignment", uint32_t(64));
    w.add_tensor("a", gt::bf16, {3}, pattern_bytes(6, 4));
    w.add_tensor("b", gt::q8_0, {32}, pattern_bytes(34, 5));
    add("valid_aligned_64", w.to_bytes());
  }
  add("valid_empty", owl::gguf_writer().to_bytes());
  add("valid_tokenizer_sentencepiece", tiny_sentencepiece().to_bytes());
  {
    owl::gguf_writer w;
    w.set("tokenizer.ggml.model", "gpt2");
    w.set("tokenizer.ggml.pre", "llama-bpe");
    w.set("tokenizer.ggml.tokens", gguf_value::make_array<std::string>({"H", "e", "l", "o", "He", "ll", "Hell", "Hello", "Ġ", "w", "<|bos|>"}));
    w.set("tokenizer.ggml.token_type", gguf_value::make_array<int32_t>({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3}));
    w.set("tokenizer.ggml.merges", gguf_value::make_array<std::string>({"H e", "l l", "He ll", "Hell o"}));
    w.set("tokenizer.ggml.bos_token_id", uint32_t(10));
    w.set("tokenizer.ggml.add_bos_token", true);
    w.set("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
    add("valid_tokenizer_gpt2", w.to_bytes());
  }
  {
    raw r;
    r.header(1, 1, 2).kv_str("general.architecture", "llama").tensor("w", {2}, gt::f32, 0).pad().zeros(8);
    add("valid_v2", r.b);
  }
  raw bad_magic;
  bad_magic.u32(0x67676d6c).u32(1).zeros(16);
  add("bad_magic", bad_magic.b);
  add("bad_v1", raw().header(0, 0, 1).b);
  add("bad_huge_kv_count", raw().header(0, uint64_t(1) << 62).zeros(32).b);
  add("bad_huge_tensor_count", raw().header(~0ull, 0).zeros(32).b);
  add("bad_string_past_end", raw().header(0, 1).str("k").u32(uint32_t(vt::string)).u64(500).zeros(16).b);
  add("bad_huge_array", raw().header(0, 1).str("a").u32(uint32_t(vt::array)).u32(uint32_t(vt::u32)).u64(uint64_t(1) << 60).zeros(16).b);
  {
    raw r;
    r.header(0, 1).str("deep").u32(uint32_t(vt::array));
    for (int i = 0; i < 12; ++i) r.u32(uint32_t(vt::array)).u64(1);
    add("bad_nested_arrays", r.zeros(16).b);
  }
  add("bad_alignment", raw().header(0, 1).kv_u32("general.alignment", 24).b);
  add("bad_unaligned_offset", one_tensor("w", {4}, gt::f32, 8, 64).b);
  add("bad_offset_past_end", one_tensor("w", {4}, gt::f32, 32, 32).b);
  add("bad_unknown_type", one_tensor("w", {4}, 77, 0, 64).b);
  add("bad_zero_dim", one_tensor("w", {4, 0}, gt::f32, 0, 64).b);
  add("bad_dim_overflow", one_tensor("w", {uint64_t(1) << 40, uint64_t(1) << 40}, gt::f32, 0, 64).b);
  add("bad_block_size", one_tensor("w", {40}, gt::q8_0, 0, 64).b);
  add("bad_duplicate_key", raw().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).b);
  add("bad_duplicate_tensor", raw().header(2, 0).tensor("w", {4}, gt::f32, 0).tensor("w", {4}, gt::f32, 32).pad().zeros(64).b);
  add("bad_overlap", raw().header(2, 0).tensor("a", {16}, gt::f32, 0).tensor("b", {4}, gt::f32, 32).pad().zeros(96).b);
  {
    auto full = seeds.front().second;
    full.resize(full.size() / 2);
    add("bad_truncated", full);
  }
  return seeds;
}

}  // namespace

TEST(GgufCorpus, SeedsBehaveAsNamed) {
  for (const auto& [name, bytes] : corpus_seeds()) {
    EXPECT_LT(bytes.size(), 4096u) << name;
    if (name.rfind("valid_", 0) == 0) {
      owl::gguf_contents c;
      ASSERT_NO_THROW(c = parse(bytes)) << name;
      if (c.metadata.count("tokenizer.ggml.model")) {
        const auto j = owl::tokenizer_from_gguf(owl::gguf_metadata_reader(c.metadata, name));
        EXPECT_NO_THROW(owl::tokenizer::from_json(j.tokenizer_json, j.tokenizer_config_json, name)) << name;
      }
    } else {
      EXPECT_THROW(parse(bytes), owl::error) << name;
    }
  }
}

TEST(GgufCorpus, DISABLED_WriteSeeds) {
  const auto dir = std::filesystem::path(OWL_SOURCE_DIR) / "fuzz" / "corpus" / "gguf";
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : corpus_seeds())
    owl::test::write_file(dir / name, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}
