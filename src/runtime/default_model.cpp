#include <cstdlib>

#include "owl/model.h"

namespace owl {

std::filesystem::path default_model_dir() {
  if (const char* env = std::getenv("OWL_MODEL"); env && *env) return env;
  return OWL_DEFAULT_MODEL_DIR;
}

}  // namespace owl
