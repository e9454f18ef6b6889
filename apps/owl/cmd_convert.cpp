// owl convert / owl quantize: GGUF files from Hugging Face folders, and re-quantized GGUF files.
#include <string>

#include "commands.h"
#include "owl/convert.h"

namespace owl::cli {
namespace {

struct convert_options {
  std::string input, output, type = "F16";
};

}  // namespace

void add_convert_commands(CLI::App& app) {
  auto convert = std::make_shared<convert_options>();
  CLI::App* cmd = app.add_subcommand("convert", "Write a Hugging Face model folder as a GGUF file (llama.cpp loads it)");
  cmd->add_option("model", convert->input, "Hugging Face model folder")->required();
  cmd->add_option("out", convert->output, "Output .gguf file")->required();
  cmd->add_option("--type", convert->type, "Type of the weight matrices: F32, F16 (default), BF16, Q8_0, Q4_0, Q4_K_M, ...");
  cmd->callback([convert] { convert_to_gguf(convert->input, convert->output, parse_gguf_type(convert->type)); });

  auto quantize = std::make_shared<convert_options>();
  CLI::App* q = app.add_subcommand("quantize", "Re-quantize the weight matrices of a GGUF file");
  q->add_option("in", quantize->input, "Input .gguf file")->required();
  q->add_option("out", quantize->output, "Output .gguf file")->required();
  q->add_option("type", quantize->type, "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL, IQ4_XS, Q4_K_M, Q5_K_M, F16, ...")
      ->required();
  q->callback([quantize] { quantize_gguf(quantize->input, quantize->output, parse_gguf_type(quantize->type)); });
}

}  // namespace owl::cli
