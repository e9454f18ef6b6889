// Tests for the safetensors reader/writer, the model-folder weight store, the mmap/text helpers
// and the f16/bf16 conversions. Every malformed input must raise owl::error whose message names
// the tensor or field and says what is wrong.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "owl/dtype.h"
#include "owl/error.h"
#include "owl/safetensors.h"

namespace fs = std::filesystem;
using owl::dtype;

namespace {

const fs::path fixtures_dir = OWL_FIXTURES_DIR;

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("owl_st_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

std::vector<std::byte> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

void write_bytes(const fs::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A safetensors image: length prefix, `header` padded with spaces to 8 bytes, `data_bytes` bytes
// of data (value = index & 0xff). `length_override` replaces the header length field.
std::vector<std::byte> make_image(std::string header, size_t data_bytes,
                                  std::optional<uint64_t> length_override = std::nullopt) {
  while (header.size() % 8 != 0) header += ' ';
  uint64_t n = length_override.value_or(header.size());
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  for (int i = 0; i < 8; ++i) out[i] = std::byte(uint8_t(n >> (8 * i)));
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = std::byte(uint8_t(i));
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const owl::error& e) {
    if (std::getenv("OWL_SHOW_ERRORS")) std::printf("  owl::error: %s\n", e.what());
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an owl::error: ") + e.what() + ">";
  }
  return "<no error>";
}

// The statement must throw owl::error whose message contains every listed fragment.
#define EXPECT_OWL_ERROR(statement, ...)                                                      \
  do {                                                                                        \
    const std::string message_ = error_of([&] { statement; });                                \
    EXPECT_NE(message_, "<no error>") << "expected owl::error from: " #statement;             \
    for (const std::string& part_ : std::initializer_list<std::string>{__VA_ARGS__})                                              \
      EXPECT_NE(message_.find(part_), std::string::npos)                                      \
          << "message lacks \"" << part_ << "\": " << message_;                               \
    EXPECT_EQ(message_.find('\n'), std::string::npos) << "message is not one line: " << message_; \
  } while (0)

owl::safetensors_contents parse(const std::vector<std::byte>& image) {
  return owl::parse_safetensors(image, "bad.safetensors");
}

template <typename T>
std::span<const std::byte> as_bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

std::vector<fs::path> fixture_model_dirs() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fixtures_dir / "models", ec))
    if (fs::exists(entry.path() / "model.safetensors")) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> golden_model_files() {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fixtures_dir / "golden" / "models", ec))
    if (entry.path().extension() == ".safetensors") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fixtures

TEST(SafetensorsFixtures, EveryModelOpens) {
  auto dirs = fixture_model_dirs();
  if (dirs.empty()) GTEST_SKIP() << "no fixtures at " << fixtures_dir;
  EXPECT_GE(dirs.size(), 17u);
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.string());
    auto file = owl::safetensors_file::open(dir / "model.safetensors");
    ASSERT_FALSE(file->tensors().empty());
    auto store = owl::weight_store::open_dir(dir);
    EXPECT_EQ(store->names().size(), file->tensors().size());
    const std::string name = dir.filename().string();
    const bool f16 = name == "qwen2_f16", bf16 = name == "llama3_bf16";
    size_t total = 0;
    for (const owl::tensor_view& t : file->tensors()) {
      SCOPED_TRACE(t.name);
      EXPECT_EQ(t.type, f16 ? dtype::f16 : bf16 ? dtype::bf16 : dtype::f32);
      EXPECT_EQ(size_t(t.numel()) * owl::dtype_size(t.type), t.nbytes);
      EXPECT_EQ(store->get(t.name).nbytes, t.nbytes);
      EXPECT_EQ(t.source, (dir / "model.safetensors").string());
      if (t.type == dtype::f32) {
        EXPECT_EQ(t.as_f32().size(), size_t(t.numel()));
      } else {
        EXPECT_OWL_ERROR(t.as_f32(), t.name, "expected dtype F32");
      }
      std::vector<float> values = t.to_f32();
      EXPECT_EQ(values.size(), size_t(t.numel()));
      for (float v : values) EXPECT_TRUE(std::isfinite(v));
      total += t.nbytes;
    }
    EXPECT_GT(total, 0u);
  }
}

// The f16/bf16 fixtures are the f32 fixtures rounded by torch; our conversions must agree bit for bit.
TEST(SafetensorsFixtures, HalfFixturesMatchRoundedF32Weights) {
  if (fixture_model_dirs().empty()) GTEST_SKIP() << "no fixtures";
  struct pair_case {
    const char* f32_model;
    const char* half_model;
    dtype type;
  };
  for (auto [f32_model, half_model, type] : {pair_case{"qwen2", "qwen2_f16", dtype::f16},
                                              pair_case{"llama3", "llama3_bf16", dtype::bf16}}) {
    auto full = owl::weight_store::open_dir(fixtures_dir / "models" / f32_model);
    auto half = owl::weight_store::open_dir(fixtures_dir / "models" / half_model);
    ASSERT_EQ(full->names(), half->names());
    size_t checked = 0;
    for (const std::string& name : full->names()) {
      const auto& a = full->get(name);
      const auto& b = half->get(name);
      ASSERT_EQ(b.type, type);
      ASSERT_EQ(a.shape, b.shape);
      auto f = a.as_f32();
      std::vector<float> back = b.to_f32();
      for (size_t i = 0; i < f.size(); ++i) {
        uint16_t stored;
        std::memcpy(&stored, b.data + 2 * i, 2);
        uint16_t mine = type == dtype::f16 ? owl::f32_to_f16(f[i]) : owl::f32_to_bf16(f[i]);
        ASSERT_EQ(mine, stored) << name << "[" << i << "] = " << f[i];
        ASSERT_EQ(std::bit_cast<uint32_t>(back[i]),
                  std::bit_cast<uint32_t>(type == dtype::f16 ? owl::f16_to_f32(stored) : owl::bf16_to_f32(stored)));
        ++checked;
      }
    }
    EXPECT_GT(checked, 100000u);
  }
}

TEST(SafetensorsFixtures, GoldenFilesHoldIdsAndLogits) {
  auto files = golden_model_files();
  if (files.empty()) GTEST_SKIP() << "no golden fixtures";
  EXPECT_GE(files.size(), 17u);
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.string());
    auto file = owl::safetensors_file::open(path);
    EXPECT_TRUE(file->metadata().count("model"));
    const std::pair<const char*, int64_t> cases[] = {{"A", 1}, {"B", 11}, {"C", 37}, {"D", 80}};
    for (auto [suffix, length] : cases) {
      const auto& ids = file->get(std::string("input_ids.") + suffix);
      EXPECT_EQ(ids.type, dtype::i32);
      EXPECT_EQ(ids.numel(), length);
      for (int32_t id : ids.as_i32()) EXPECT_GE(id, 0);
      const auto& logits = file->get(std::string("logits.") + suffix);
      EXPECT_EQ(logits.type, dtype::f32);
      ASSERT_EQ(logits.shape.size(), 2u);
      EXPECT_EQ(logits.shape[0], length);
      EXPECT_EQ(logits.as_f32().size(), size_t(length * logits.shape[1]));
      EXPECT_OWL_ERROR(ids.as_f32(), "input_ids.", "expected dtype F32, found I32");
      EXPECT_OWL_ERROR(ids.to_f32(), "input_ids.", "float dtype");
      EXPECT_OWL_ERROR(logits.as_i32(), "logits.", "expected dtype I32, found F32");
    }
    const auto& greedy = file->get("greedy.B");
    EXPECT_EQ(greedy.type, dtype::i32);
    EXPECT_EQ(greedy.numel(), 16);
    EXPECT_EQ(file->find("nope"), nullptr);
    EXPECT_OWL_ERROR(file->get("nope"), path.string(), "'nope'", "not found");
  }
}

TEST(SafetensorsFixtures, EveryTruncationOfARealFileIsAnError) {
  const fs::path path = fixtures_dir / "models" / "llama2" / "model.safetensors";
  if (!fs::exists(path)) GTEST_SKIP() << "no fixtures";
  const std::vector<std::byte> full = read_bytes(path);
  const auto contents = owl::parse_safetensors(full, "llama2");
  const std::string last = contents.tensors.back().name;  // highest offset

  temp_dir tmp;
  auto cut = [&](size_t n) {
    std::vector<std::byte> part(full.begin(), full.begin() + n);
    write_bytes(tmp / "cut.safetensors", part);
    return tmp / "cut.safetensors";
  };
  EXPECT_OWL_ERROR(owl::safetensors_file::open(cut(5)), "cut.safetensors", "5 bytes", "at least 8");
  EXPECT_OWL_ERROR(owl::safetensors_file::open(cut(0)), "cut.safetensors", "0 bytes", "at least 8");
  EXPECT_OWL_ERROR(owl::safetensors_file::open(cut(200)), "cut.safetensors", "header length", "past the end");
  EXPECT_OWL_ERROR(owl::safetensors_file::open(cut(full.size() - 100)), "cut.safetensors", "'" + last + "'",
                   "past the end of the data section");
  // Every prefix (sampled) fails cleanly.
  for (size_t n = 0; n < full.size(); n += (n < 4096 ? 7 : 4099)) {
    std::span<const std::byte> prefix(full.data(), n);
    EXPECT_THROW(owl::parse_safetensors(prefix, "prefix"), owl::error) << n;
  }
}

// ---------------------------------------------------------------------------------------------
// Valid edge cases

TEST(SafetensorsParse, EdgeCasesThatAreValid) {
  // No tensors at all.
  auto empty = parse(make_image("{}", 0));
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_TRUE(empty.metadata.empty());

  // Scalar, zero-size tensors (several at one offset), metadata, null metadata, header padding.
  // The views point into the image, so it must outlive them.
  const auto image = make_image(R"({"__metadata__":{"format":"pt"},
      "s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
      "z1":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},
      "z2":{"dtype":"BF16","shape":[5,0],"data_offsets":[4,4]},
      "h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})",
                                8);
  auto c = parse(image);
  ASSERT_EQ(c.tensors.size(), 4u);
  EXPECT_EQ(c.metadata.at("format"), "pt");
  EXPECT_EQ(c.tensors[0].name, "s");  // sorted by offset, ties by name
  EXPECT_EQ(c.tensors[0].numel(), 1);
  EXPECT_EQ(c.tensors[0].nbytes, 4u);
  EXPECT_EQ(c.tensors[1].name, "z1");
  EXPECT_EQ(c.tensors[1].nbytes, 0u);
  EXPECT_TRUE(c.tensors[1].as_f32().empty());
  EXPECT_TRUE(c.tensors[1].to_f32().empty());
  EXPECT_EQ(c.tensors[2].name, "z2");
  EXPECT_EQ(c.tensors[3].name, "h");
  EXPECT_EQ(c.tensors[3].to_f32().size(), 2u);

  auto null_meta = parse(make_image(R"({"__metadata__":null})", 0));
  EXPECT_TRUE(null_meta.metadata.empty());

  // numel() of a hand-made view refuses overflow and negative dimensions instead of wrapping.
  owl::tensor_view bogus;
  bogus.name = "hand";
  bogus.shape = {int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_OWL_ERROR(bogus.numel(), "tensor 'hand'", "[1099511627776, 1099511627776]");
  bogus.shape = {-2, 3};
  EXPECT_OWL_ERROR(bogus.numel(), "tensor 'hand'", "[-2, 3]");
}

TEST(SafetensorsParse, MisalignedF32IsReportedNotCastNaively) {
  // U8 first, then an F32 at odd offset 1: the view is legal but as_f32 must refuse it.
  auto image = make_image(R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
                              "f":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})",
                          5);
  float value = 1.5f;
  std::memcpy(image.data() + image.size() - 4, &value, 4);
  auto c = parse(image);
  ASSERT_EQ(c.tensors.size(), 2u);
  const auto& f = c.tensors[1];
  ASSERT_EQ(f.name, "f");
  ASSERT_NE(reinterpret_cast<uintptr_t>(f.data) % 4, 0u);
  EXPECT_OWL_ERROR(f.as_f32(), "'f'", "aligned");
  EXPECT_EQ(f.to_f32(), std::vector<float>{1.5f});
  EXPECT_OWL_ERROR(c.tensors[0].to_f32(), "'b'", "float dtype", "U8");
}

// ---------------------------------------------------------------------------------------------
// Malformed inputs: each throws owl::error naming the tensor/field and the problem.

TEST(SafetensorsParse, TooShortAndBadHeaderLength) {
  EXPECT_OWL_ERROR(parse(std::vector<std::byte>(3)), "bad.safetensors", "3 bytes", "at least 8");
  EXPECT_OWL_ERROR(parse(make_image("{}", 0, 1000)), "bad.safetensors", "header length 1000",
                   "past the end");
  EXPECT_OWL_ERROR(parse(make_image("{}", 0, uint64_t(1) << 63)), "header length", "too large");
  EXPECT_OWL_ERROR(parse(make_image("{}", 0, 200'000'000)), "header length", "too large");
  EXPECT_OWL_ERROR(parse(make_image("{}", 0, 0)), "header length 0", "too small");
  // Other weight formats get a hint that names them.
  auto text_image = [](const std::string& text) {
    std::vector<std::byte> out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
  };
  EXPECT_OWL_ERROR(parse(text_image(std::string("GGUF\x03", 5) + std::string(16, '\0'))), "header length", "GGUF");
  EXPECT_OWL_ERROR(parse(text_image("PK\x03\x04 zip archive bytes")), "header length", "zip");
  EXPECT_OWL_ERROR(parse(text_image("version https://git-lfs.github.com/spec/v1\noid sha256:00")), "Git LFS");
}

TEST(SafetensorsParse, HeaderNotJsonObject) {
  EXPECT_OWL_ERROR(parse(make_image("{not json}", 0)), "bad.safetensors", "header", "not valid JSON");
  EXPECT_OWL_ERROR(parse(make_image("{\"a\":", 0)), "header", "not valid JSON");
  EXPECT_OWL_ERROR(parse(make_image("[1,2]", 0)), "header", "expected a JSON object", "array");
  EXPECT_OWL_ERROR(parse(make_image("\"str\"", 0)), "header", "expected a JSON object", "string");
  EXPECT_OWL_ERROR(parse(make_image("{\"\xff\xfe\":1}", 0)), "header", "not valid UTF-8");
  EXPECT_OWL_ERROR(parse(make_image("{\"\xc0\x80\":1}", 0)), "header", "not valid UTF-8");  // overlong NUL
  std::string deep(100000, '[');
  EXPECT_OWL_ERROR(parse(make_image(deep, 0)), "header", "nests deeper");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", 4)),
                   "nests deeper", "'shape'");
}

TEST(SafetensorsParse, EntryStructure) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":[1,2]})", 0)), "tensor 'w'", "expected an object", "array");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1]}})", 4)), "tensor 'w'",
                   "missing field 'data_offsets'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4)), "tensor 'w'",
                   "missing field 'dtype'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4)), "tensor 'w'",
                   "missing field 'shape'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"foo":1}})", 4)),
                   "tensor 'w'", "unexpected field 'foo'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "field 'dtype'", "expected a string", "integer");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "field 'shape'", "expected an array");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "field 'shape'", "non-integer");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "field 'shape'", "boolean");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4)),
                   "tensor 'w'", "field 'data_offsets'", "[begin, end]");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8)),
                   "tensor 'w'", "field 'data_offsets'", "[begin, end]");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-1,4]}})", 4)),
                   "tensor 'w'", "field 'data_offsets'", "begin", "negative");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", 4)),
                   "tensor 'w'", "field 'data_offsets'", "end", "string");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)),
                   "tensor 'w'", "begin 8 > end 0");
  // Names with control characters are escaped so the message stays on one line.
  EXPECT_OWL_ERROR(parse(make_image("{\"a\\nb\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)),
                   "tensor 'a\\x0ab'", "unknown dtype");
}

TEST(SafetensorsParse, Metadata) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"__metadata__":[1]})", 0)), "field '__metadata__'",
                   "expected an object of strings", "array");
  EXPECT_OWL_ERROR(parse(make_image(R"({"__metadata__":{"k":1}})", 0)), "field '__metadata__'", "'k'",
                   "expected a string");
  EXPECT_OWL_ERROR(parse(make_image(R"({"__metadata__":{"k":{"x":"y"}}})", 0)), "field '__metadata__'", "'k'",
                   "expected a string");
}

TEST(SafetensorsParse, UnknownDtype) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"Q7","shape":[4],"data_offsets":[0,4]}})", 4)),
                   "bad.safetensors: tensor 'w'", "unknown dtype 'Q7'", "F32", "F16", "BF16", "I32");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "unknown dtype 'f32'");
}

TEST(SafetensorsParse, ShapeOverflowAndNegativeShape) {
  EXPECT_OWL_ERROR(
      parse(make_image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4)),
      "tensor 'w'", "shape overflow");
  // The element count fits, the byte count does not.
  EXPECT_OWL_ERROR(
      parse(make_image(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0)),
      "tensor 'w'", "shape overflow");
  // Overflow that a later zero would hide in unchecked math.
  EXPECT_OWL_ERROR(
      parse(make_image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", 0)),
      "tensor 'w'", "shape overflow");
  EXPECT_OWL_ERROR(
      parse(make_image(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", 4)),
      "tensor 'w'", "overflows");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,4]}})", 4)),
                   "tensor 'w'", "field 'shape'", "negative", "-1");
}

TEST(SafetensorsParse, WrongByteSize) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
                   "tensor 'w'", "wrong byte size", "8 bytes", "expected 12");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}})", 16)),
                   "tensor 'w'", "wrong byte size", "16 bytes", "expected 8");
}

TEST(SafetensorsParse, OffsetsPastEnd) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)),
                   "tensor 'w'", "past the end of the data section", "8 bytes");
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
      "w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}})",
                                    4)),
                   "tensor 'w'", "data_offsets");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],
      "data_offsets":[18446744073709551611,18446744073709551615]}})",
                                    4)),
                   "tensor 'w'", "past the end of the data section");
}

TEST(SafetensorsParse, OverlapsAndHoles) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                        "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    12)),
                   "tensor 'b'", "overlap", "'a'");
  // Identical ranges (aliasing) are overlaps too.
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                        "b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                                    8)),
                   "overlap", "'a'", "'b'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                        "b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                                    20)),
                   "tensor 'b'", "hole", "[8, 12)");
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
                   "tensor 'a'", "hole", "[0, 4)");
  EXPECT_OWL_ERROR(parse(make_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12)),
                   "bad.safetensors", "hole", "last 4 bytes");
}

TEST(SafetensorsParse, DuplicateKeys) {
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                        "w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                    8)),
                   "duplicate key 'w'", "header");
  EXPECT_OWL_ERROR(parse(make_image(R"({"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", 4)),
                   "duplicate key 'dtype'", "'w'");
  EXPECT_OWL_ERROR(parse(make_image(R"({"__metadata__":{"k":"a","k":"b"}})", 0)), "duplicate key 'k'",
                   "'__metadata__'");
}

TEST(SafetensorsFile, OpenErrors) {
  temp_dir tmp;
  EXPECT_OWL_ERROR(owl::safetensors_file::open(tmp / "missing.safetensors"), "missing.safetensors",
                   "cannot open", "No such file");
  EXPECT_OWL_ERROR(owl::safetensors_file::open(tmp.path), tmp.path.string(), "directory");
  write_bytes(tmp / "empty.safetensors", {});
  EXPECT_OWL_ERROR(owl::safetensors_file::open(tmp / "empty.safetensors"), "empty.safetensors", "0 bytes");
  auto bad = make_image(R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", 1);
  write_bytes(tmp / "q.safetensors", bad);
  EXPECT_OWL_ERROR(owl::safetensors_file::open(tmp / "q.safetensors"), (tmp / "q.safetensors").string(),
                   "tensor 'w'", "unknown dtype 'Q7'");
}

TEST(MappedFile, MapsAndReadsText) {
  temp_dir tmp;
  write_text(tmp / "a.txt", "hello");
  auto m = owl::mapped_file::open(tmp / "a.txt");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(std::memcmp(m.data(), "hello", 5), 0);
  owl::mapped_file moved = std::move(m);
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(m.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract

  EXPECT_EQ(owl::read_text_file(tmp / "a.txt"), "hello");
  EXPECT_EQ(owl::read_text_file(tmp / "a.txt", 5), "hello");
  EXPECT_OWL_ERROR(owl::read_text_file(tmp / "a.txt", 4), "a.txt", "5 bytes", "limit of 4 bytes");
  EXPECT_OWL_ERROR(owl::read_text_file(tmp / "config.json"), (tmp / "config.json").string(), "cannot open",
                   "No such file");
  EXPECT_OWL_ERROR(owl::read_text_file(tmp.path), "directory");
  write_text(tmp / "empty.txt", "");
  EXPECT_EQ(owl::read_text_file(tmp / "empty.txt"), "");
  if (fs::exists("/dev/null")) {
    EXPECT_OWL_ERROR(owl::read_text_file("/dev/null"), "/dev/null", "special file");
  }
}

TEST(AnonymousMemory, LargeBuffersStartOnAHugePageAndAllBytesAreUsable) {
  constexpr size_t huge_page = size_t(2) << 20;
  for (size_t size : {size_t(1), size_t(4096), huge_page - 1, huge_page, 3 * huge_page + 5}) {
    auto m = owl::anonymous_memory::allocate(size, "test buffer");
    ASSERT_NE(m.data(), nullptr);
    ASSERT_EQ(m.size(), size);
    if (size >= huge_page) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % huge_page, 0u) << size;
    }
    std::memset(m.data(), 0x5a, size);  // every byte is ours (ASan and the MMU agree)
    EXPECT_EQ(m.data()[size - 1], std::byte{0x5a});
    owl::anonymous_memory moved = std::move(m);
    EXPECT_EQ(moved.size(), size);
  }
  EXPECT_EQ(owl::anonymous_memory::allocate(0, "empty").data(), nullptr);
  EXPECT_OWL_ERROR(owl::anonymous_memory::allocate(SIZE_MAX - 100, "weights of a huge tensor"),
                   "weights of a huge tensor", "cannot allocate");
  EXPECT_OWL_ERROR(owl::anonymous_memory::allocate(size_t(1) << 60, "weights of a huge tensor"),
                   "weights of a huge tensor", "cannot allocate");
}

// ---------------------------------------------------------------------------------------------
// Writing

TEST(SafetensorsWrite, RoundTrip) {
  temp_dir tmp;
  std::vector<float> w = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
  std::vector<int32_t> ids = {1, 2, -3, 2147483647};
  std::vector<float> scalar = {42.0f};
  std::vector<uint16_t> half = {0x3c00, 0xc000, 0x7bff};
  std::vector<uint8_t> bytes = {7};
  const std::vector<owl::tensor_to_write> tensors = {
      {"u8.first", dtype::u8, {1}, as_bytes_of(bytes)},
      {"w", dtype::f32, {2, 3}, as_bytes_of(w)},
      {"ids", dtype::i32, {4}, as_bytes_of(ids)},
      {"scalar", dtype::f32, {}, as_bytes_of(scalar)},
      {"empty", dtype::f32, {0, 5}, {}},
      {"half", dtype::f16, {3}, as_bytes_of(half)},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\""}};
  const fs::path path = tmp / "out.safetensors";
  owl::write_safetensors(path, tensors, metadata);

  // The header length is a multiple of 8, padded with spaces.
  auto raw = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint64_t(raw[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(char(raw[8]), '{');

  auto file = owl::safetensors_file::open(path);
  EXPECT_EQ(file->metadata(), metadata);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    const owl::tensor_view& v = file->get(t.name);
    EXPECT_EQ(v.type, t.type);
    EXPECT_EQ(v.shape, t.shape);
    ASSERT_EQ(v.nbytes, t.bytes.size());
    if (v.nbytes) {
      EXPECT_EQ(std::memcmp(v.data, t.bytes.data(), v.nbytes), 0);
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % owl::dtype_size(v.type), 0u) << "writer aligns tensors";
  }
  auto wv = file->get("w").as_f32();
  EXPECT_EQ(std::vector<float>(wv.begin(), wv.end()), w);
  auto iv = file->get("ids").as_i32();
  EXPECT_EQ(std::vector<int32_t>(iv.begin(), iv.end()), ids);
  EXPECT_EQ(file->get("half").to_f32(), (std::vector<float>{1.0f, -2.0f, 65504.0f}));

  // Overwriting replaces the file; no temporary files are left behind.
  owl::write_safetensors(path, std::span<const owl::tensor_to_write>(tensors.data(), 1));
  EXPECT_EQ(owl::safetensors_file::open(path)->tensors().size(), 1u);
  EXPECT_TRUE(owl::safetensors_file::open(path)->metadata().empty());
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 1);
}

TEST(SafetensorsWrite, RoundTripOfARealModel) {
  const fs::path src = fixtures_dir / "models" / "gemma3" / "model.safetensors";
  if (!fs::exists(src)) GTEST_SKIP() << "no fixtures";
  auto in = owl::safetensors_file::open(src);
  std::vector<owl::tensor_to_write> tensors;
  for (const auto& t : in->tensors()) tensors.push_back({t.name, t.type, t.shape, {t.data, t.nbytes}});
  temp_dir tmp;
  owl::write_safetensors(tmp / "copy.safetensors", tensors, in->metadata());
  auto out = owl::safetensors_file::open(tmp / "copy.safetensors");
  EXPECT_EQ(out->metadata(), in->metadata());
  ASSERT_EQ(out->tensors().size(), in->tensors().size());
  for (const auto& t : in->tensors()) {
    const auto& u = out->get(t.name);
    EXPECT_EQ(u.type, t.type);
    EXPECT_EQ(u.shape, t.shape);
    ASSERT_EQ(u.nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u.data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(SafetensorsWrite, RejectsBadInputAndLeavesNothingBehind) {
  temp_dir tmp;
  std::vector<float> three = {1, 2, 3};
  const fs::path path = tmp / "out.safetensors";
  auto write_one = [&](owl::tensor_to_write t) {
    owl::write_safetensors(path, std::span<const owl::tensor_to_write>(&t, 1));
  };
  EXPECT_OWL_ERROR(write_one({"w", dtype::f32, {2, 2}, as_bytes_of(three)}), "out.safetensors", "tensor 'w'",
                   "wrong byte size", "expected 16", "found 12");
  EXPECT_OWL_ERROR(write_one({"w", dtype::f32, {-3}, as_bytes_of(three)}), "tensor 'w'", "negative");
  EXPECT_OWL_ERROR(write_one({"", dtype::f32, {3}, as_bytes_of(three)}), "empty tensor name");
  EXPECT_OWL_ERROR(write_one({"__metadata__", dtype::f32, {3}, as_bytes_of(three)}), "reserved");
  EXPECT_OWL_ERROR(write_one({"w", dtype::f32, {int64_t(1) << 40, int64_t(1) << 40}, as_bytes_of(three)}),
                   "tensor 'w'", "shape overflow");
  const std::vector<owl::tensor_to_write> dup = {{"w", dtype::f32, {3}, as_bytes_of(three)},
                                                 {"w", dtype::f32, {3}, as_bytes_of(three)}};
  EXPECT_OWL_ERROR(owl::write_safetensors(path, dup), "tensor 'w'", "duplicate");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 0)
      << "a failed write must leave no file";
}

TEST(SafetensorsWrite, IoFailureIsAnError) {
  temp_dir tmp;
  std::vector<float> one = {1};
  const owl::tensor_to_write t{"w", dtype::f32, {1}, as_bytes_of(one)};
  EXPECT_OWL_ERROR(owl::write_safetensors(tmp / "no" / "such" / "dir.safetensors",
                                          std::span<const owl::tensor_to_write>(&t, 1)),
                   "dir.safetensors", "cannot create");
  // Renaming over a non-empty directory fails after the data was written: the temp file must go.
  fs::create_directories(tmp / "taken");
  write_text(tmp / "taken" / "x", "x");
  EXPECT_OWL_ERROR(owl::write_safetensors(tmp / "taken", std::span<const owl::tensor_to_write>(&t, 1)), "taken",
                   "cannot rename");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 1);
}

// ---------------------------------------------------------------------------------------------
// Model folders

namespace {

struct sharded_model {
  temp_dir tmp;
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6}, c = {7, 8, 9};
  std::string shard1 = "model-00001-of-00002.safetensors";
  std::string shard2 = "model-00002-of-00002.safetensors";

  // Writes shard files (shard 2 optionally also holds "a") and the given index text.
  void build(const std::string& index, bool duplicate_a = false) {
    const std::vector<owl::tensor_to_write> one = {{"a", dtype::f32, {2, 2}, as_bytes_of(a)},
                                                   {"b", dtype::f32, {2}, as_bytes_of(b)}};
    std::vector<owl::tensor_to_write> two = {{"c", dtype::f32, {3}, as_bytes_of(c)}};
    if (duplicate_a) two.push_back({"a", dtype::f32, {2, 2}, as_bytes_of(a)});
    owl::write_safetensors(tmp / shard1, one);
    owl::write_safetensors(tmp / shard2, two);
    write_text(tmp / "model.safetensors.index.json", index);
  }
  std::string index(const std::string& map_a, const std::string& map_b, const std::string& map_c,
                    const std::string& extra = "") {
    return R"({"metadata":{"total_size":36},"weight_map":{)" + std::string("\"a\":\"") + map_a +
           "\",\"b\":\"" + map_b + "\",\"c\":\"" + map_c + "\"" + extra + "}}";
  }
  std::string good_index() { return index(shard1, shard1, shard2); }
  std::string index_file() const { return (tmp / "model.safetensors.index.json").string(); }
};

}  // namespace

TEST(WeightStore, ShardedFolder) {
  sharded_model m;
  m.build(m.good_index());
  auto store = owl::weight_store::open_dir(m.tmp.path);
  EXPECT_EQ(store->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(store->dir(), m.tmp.path);
  auto c = store->get("c").as_f32();
  EXPECT_EQ(std::vector<float>(c.begin(), c.end()), m.c);
  EXPECT_EQ(store->get("a").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(store->get("a").source, (m.tmp / m.shard1).string());
  EXPECT_EQ(store->find("zzz"), nullptr);
  EXPECT_OWL_ERROR(store->get("zzz"), m.tmp.path.string(), "tensor 'zzz'", "not found", "hint:");
}

TEST(WeightStore, SingleFileFolderAndMissingWeights) {
  temp_dir tmp;
  EXPECT_OWL_ERROR(owl::weight_store::open_dir(tmp.path), tmp.path.string(), "no weights found",
                   "model.safetensors", "Hugging Face model folder");
  write_text(tmp / "pytorch_model.bin", "x");
  EXPECT_OWL_ERROR(owl::weight_store::open_dir(tmp.path), "no weights found", "pytorch_model.bin");
  EXPECT_OWL_ERROR(owl::weight_store::open_dir(tmp / "nope"), "nope", "not found", "Hugging Face model folder");
  EXPECT_OWL_ERROR(owl::weight_store::open_dir(tmp / "pytorch_model.bin"), "expected a model folder");

  std::vector<float> v = {1, 2};
  const owl::tensor_to_write t{"x", dtype::f32, {2}, as_bytes_of(v)};
  owl::write_safetensors(tmp / "model.safetensors", std::span<const owl::tensor_to_write>(&t, 1));
  auto store = owl::weight_store::open_dir(tmp.path);
  EXPECT_EQ(store->names(), std::vector<std::string>{"x"});
  EXPECT_OWL_ERROR(store->get("model.norm.weight"), tmp.path.string(), "'model.norm.weight'", "not found");
}

TEST(WeightStore, BrokenIndexes) {
  {
    sharded_model m;  // shard listed but absent
    m.build(m.index(m.shard1, m.shard1, "model-00003-of-00002.safetensors"));
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), m.index_file(), "'model-00003-of-00002.safetensors'",
                     "not found");
  }
  {
    sharded_model m;  // index lists a tensor that its shard lacks
    m.build(m.index(m.shard1, m.shard1, m.shard2, ",\"d\":\"" + m.shard2 + "\""));
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'd'", "not found in that shard",
                     m.shard2);
  }
  {
    sharded_model m;  // index says the wrong shard
    m.build(m.index(m.shard2, m.shard1, m.shard2));
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'a'", "found in shard", m.shard1);
  }
  {
    sharded_model m;  // shard holds a tensor the index does not list
    m.build(R"({"weight_map":{"a":")" + m.shard1 + R"(","c":")" + m.shard2 + "\"}}");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'b'", "not listed");
  }
  {
    sharded_model m;  // one tensor in two shards
    m.build(m.good_index(), /*duplicate_a=*/true);
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'a'", "duplicate tensor", m.shard1,
                     m.shard2);
  }
  for (std::string evil : {"../evil.safetensors", "sub/x.safetensors", "/etc/passwd", "..", ".", "",
                           "a\\\\b.safetensors"}) {
    sharded_model m;  // path traversal and other non-plain names
    m.build(m.index(m.shard1, evil, m.shard2));
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'b'", "not a plain file name");
  }
  {
    sharded_model m;
    m.build("{\"weight_map\": ");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), m.index_file(), "not valid JSON");
  }
  {
    sharded_model m;
    m.build(R"({"metadata":{}})");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "missing field 'weight_map'");
  }
  {
    sharded_model m;
    m.build(R"({"weight_map":{}})");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "field 'weight_map'", "empty");
  }
  {
    sharded_model m;
    m.build(R"({"weight_map":{"a":1}})");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "tensor 'a'", "expected a shard file name");
  }
  {
    sharded_model m;
    m.build(R"({"weight_map":{"a":")" + m.shard1 + R"(","a":")" + m.shard2 + "\"}}");
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), "duplicate key 'a'", "'weight_map'");
  }
  {
    sharded_model m;  // a broken shard: the error names the shard file
    m.build(m.good_index());
    write_bytes(m.tmp / m.shard2, make_image(R"({"c":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
    EXPECT_OWL_ERROR(owl::weight_store::open_dir(m.tmp.path), m.shard2, "tensor 'c'", "wrong byte size");
  }
}

// ---------------------------------------------------------------------------------------------
// f16 / bf16 conversions (owl/dtype.h)

namespace {
float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
}  // namespace

TEST(HalfConversion, F16KnownValues) {
  EXPECT_EQ(owl::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(owl::f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(owl::f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(owl::f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(owl::f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(owl::f32_to_f16(65519.99f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(owl::f32_to_f16(65520.0f), 0x7c00);   // halfway rounds to even: infinity
  EXPECT_EQ(owl::f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(owl::f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(owl::f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(owl::f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(owl::f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(owl::f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(owl::f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(owl::f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
}

TEST(HalfConversion, F16Subnormals) {
  EXPECT_EQ(owl::f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(owl::f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(owl::f16_to_f32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(1023.0f, -24)), 0x03ff);
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);           // tie -> even (0)
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(1.0f, -25) * 1.0001f), 0x0001); // above the tie
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);           // 1.5 ulp tie -> even (2)
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(5.0f, -25)), 0x0002);           // 2.5 ulp tie -> even (2)
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(owl::f32_to_f16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(owl::f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);        // rounds up into the normals
  EXPECT_EQ(owl::f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(HalfConversion, F16RoundsToNearestEven) {
  const float one = 1.0f, ulp = std::ldexp(1.0f, -10);
  EXPECT_EQ(owl::f32_to_f16(one + ulp / 2), 0x3c00);                       // tie -> even
  EXPECT_EQ(owl::f32_to_f16(one + 3 * ulp / 2), 0x3c02);                   // tie -> even
  EXPECT_EQ(owl::f32_to_f16(std::nextafter(one + ulp / 2, 2.0f)), 0x3c01);  // just above the tie
  EXPECT_EQ(owl::f32_to_f16(std::nextafter(one + ulp / 2, 0.0f)), 0x3c00);  // just below
  EXPECT_EQ(owl::f32_to_f16(-(one + 3 * ulp / 2)), 0xbc02);
  EXPECT_EQ(owl::f32_to_f16(2047.5f), owl::f32_to_f16(2048.0f));  // carry into the exponent
}

TEST(HalfConversion, F16RoundTripsEveryValueAndNan) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = owl::f16_to_f32(uint16_t(h));
    bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    ASSERT_EQ(std::isnan(f), nan) << std::hex << h;
    if (nan) {
      uint16_t back = owl::f32_to_f16(f);
      ASSERT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;
      ASSERT_NE(back & 0x3ff, 0) << std::hex << h;
      ASSERT_EQ(back & 0x8000, h & 0x8000);
    } else {
      ASSERT_EQ(owl::f32_to_f16(f), h) << std::hex << h;
    }
  }
  EXPECT_TRUE(std::isnan(owl::f16_to_f32(owl::f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(owl::f16_to_f32(owl::f32_to_f16(from_bits(0x7f800001)))));  // signaling, tiny payload
  EXPECT_TRUE(std::isnan(owl::f16_to_f32(owl::f32_to_f16(from_bits(0xffc00000)))));
}

TEST(HalfConversion, Bf16) {
  EXPECT_EQ(owl::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(owl::f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(owl::bf16_to_f32(0x3f80), 1.0f);
  const float ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(owl::f32_to_bf16(1.0f + ulp / 2), 0x3f80);      // tie -> even
  EXPECT_EQ(owl::f32_to_bf16(1.0f + 3 * ulp / 2), 0x3f82);  // tie -> even
  EXPECT_EQ(owl::f32_to_bf16(std::nextafter(1.0f + ulp / 2, 2.0f)), 0x3f81);
  EXPECT_EQ(owl::f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(owl::f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(owl::f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest bf16
  EXPECT_EQ(owl::f32_to_bf16(from_bits(0x7f7f7fff)), 0x7f7f);             // just below the tie stays finite
  // Subnormals survive (bf16 shares f32's exponent range).
  EXPECT_EQ(owl::f32_to_bf16(from_bits(0x00010000)), 0x0001);
  EXPECT_EQ(bits(owl::bf16_to_f32(0x0001)), 0x00010000u);
  EXPECT_EQ(owl::f32_to_bf16(from_bits(0x00008000)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(owl::f32_to_bf16(from_bits(0x00018000)), 0x0002);  // tie -> even (2)
  // NaNs stay NaN, including signaling NaNs whose payload sits in the low bits only.
  for (uint32_t nan_bits : {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu}) {
    uint16_t h = owl::f32_to_bf16(from_bits(nan_bits));
    EXPECT_TRUE(std::isnan(owl::bf16_to_f32(h))) << std::hex << nan_bits;
    EXPECT_EQ(h & 0x8000, (nan_bits >> 16) & 0x8000);
  }
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = owl::bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(owl::f32_to_bf16(f), h) << std::hex << h;
  }
}
