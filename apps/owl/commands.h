// commands.h — the owl CLI's subcommands. Each registers its options on a CLI11 subcommand
// and runs through the public API in include/owl only.
#pragma once

#include <CLI/CLI.hpp>

namespace owl::cli {

void add_run_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_show_command(CLI::App& app);
void add_convert_commands(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);

}  // namespace owl::cli
