// owl — open weights, local. A thin command-line client of the owl library.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "owl/error.h"

int main(int argc, char** argv) {
  CLI::App app{"owl: run open-weight language models locally"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "owl 0.1.0");
  owl::cli::add_run_command(app);
  owl::cli::add_tokenize_command(app);
  owl::cli::add_logits_command(app);
  owl::cli::add_show_command(app);
  owl::cli::add_convert_commands(app);
  owl::cli::add_bench_command(app);
  owl::cli::add_chat_command(app);
  owl::cli::add_template_command(app);
  owl::cli::add_serve_command(app);
  owl::cli::add_perplexity_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const owl::error& e) {
    std::fprintf(stderr, "owl: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "owl: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "owl: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
