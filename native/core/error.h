// Errors thrown by the native core. The binding turns them into JavaScript errors:
// tf::Error becomes an Error with the message, tf::Cancelled an AbortError.
#pragma once

#include <stdexcept>
#include <string>

namespace tf {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown when a long computation sees that its caller asked it to stop.
class Cancelled : public Error {
 public:
  Cancelled() : Error("the operation was cancelled") {}
};

// Argument and shape checks on the public entry points of the core.
#define TF_CHECK(cond, message)                                   \
  do {                                                            \
    if (!(cond)) throw ::tf::Error(std::string(message));         \
  } while (0)

}  // namespace tf
