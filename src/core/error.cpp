#include "owl/error.h"

namespace owl {

void fail(const std::string& where, const std::string& problem, const std::string& hint) {
  std::string message = where.empty() ? problem : where + ": " + problem;
  if (!hint.empty()) message += " (hint: " + hint + ")";
  throw error(message);
}

}  // namespace owl
