#include "lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "../error.h"

namespace tf {

LrScheduleKind lr_schedule_kind(const std::string& name) {
  if (name == "constant") return LrScheduleKind::Constant;
  if (name == "linear") return LrScheduleKind::Linear;
  if (name == "cosine") return LrScheduleKind::Cosine;
  throw Error("unknown learning-rate schedule '" + name + "' (expected constant, linear or cosine)");
}

double lr_at(const LrSchedule& s, int64_t step) {
  const double warmup = double(std::max<int64_t>(s.warmup_steps, 0));
  if (double(step) < warmup) return s.base_lr * double(step) / std::max(1.0, warmup);
  const double span = std::max(1.0, double(s.total_steps) - warmup);
  const double progress = (double(step) - warmup) / span;
  switch (s.kind) {
    case LrScheduleKind::Constant:
      return s.base_lr;
    case LrScheduleKind::Linear:
      return s.base_lr * std::max(0.0, (double(s.total_steps) - double(step)) / span);
    case LrScheduleKind::Cosine:
      return s.base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return s.base_lr;
}

}  // namespace tf
