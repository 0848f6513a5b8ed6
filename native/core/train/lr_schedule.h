// Learning-rate schedules with linear warmup, as Hugging Face's
// get_{constant,linear,cosine}_schedule_with_warmup define them. Step s (0-based) is the
// s-th optimizer step; like torch's schedulers, the first step of a warmup runs at lr 0.
#pragma once

#include <cstdint>
#include <string>

namespace tf {

enum class LrScheduleKind { Constant, Linear, Cosine };

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::Cosine;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
};

// "constant", "linear" or "cosine"; throws tf::Error otherwise.
LrScheduleKind lr_schedule_kind(const std::string& name);

// The learning rate of step s:
//   s < warmup:  base * s / warmup
//   constant:    base
//   linear:      base * max(0, (total - s) / (total - warmup))
//   cosine:      base * max(0, (1 + cos(pi * (s - warmup) / (total - warmup))) / 2)
double lr_at(const LrSchedule& schedule, int64_t step);

}  // namespace tf
