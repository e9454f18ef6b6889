// owl tokenize: show how a tokenizer splits a text.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/model.h"
#include "owl/tokenizer.h"

namespace owl::cli {
namespace {

struct tokenize_options {
  std::string model_dir;
  std::string text;
  bool json = false;
  bool no_specials = false;
};

void tokenize(const tokenize_options& o) {
  auto tok = load_tokenizer(o.model_dir);
  const std::vector<int32_t> ids = tok->encode(o.text, !o.no_specials);
  if (o.json) {
    nlohmann::json out = {{"ids", ids}, {"tokens", nlohmann::json::array()}};
    for (int32_t id : ids) out["tokens"].push_back(tok->token_piece(id));
    // Pieces may hold invalid UTF-8 (byte-level fragments); replace rather than throw.
    std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::printf("%s\n", text.c_str());
    return;
  }
  for (int32_t id : ids) {
    std::string piece = nlohmann::json(tok->token_piece(id)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::printf("%d\t%s\n", id, piece.c_str());
  }
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<tokenize_options>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
  cmd->add_option("model", options->model_dir, "Model or tokenizer folder (tokenizer.json [+ tokenizer_config.json])")
      ->required();
  cmd->add_option("text", options->text, "Text to tokenize")->required();
  cmd->add_flag("--json", options->json, R"(Print {"ids": [...], "tokens": [...]})");
  cmd->add_flag("--no-specials", options->no_specials, "Do not add the special tokens a prompt gets (e.g. BOS)");
  cmd->callback([options] { tokenize(*options); });
}

}  // namespace owl::cli
