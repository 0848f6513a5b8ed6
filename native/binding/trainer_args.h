// Argument readers the ViT and BERT trainer bindings share: the trainer settings of
// configure(), the constructor's sizes and device, and the number fields under them.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "../core/train/vit_trainer.h"

namespace tfb {

// The trainer settings object of configure().
tf::TrainerConfig ReadTrainerConfig(Napi::Env env, const Napi::Value& value);

// The constructor's options object: { batchSize, maxTokens (BERT only), microBatch?, device? },
// read in that order; errors name the class `cls`. `device` is 'auto' (the default),
// 'cpu' or 'cuda'.
struct TrainerOptions {
  int64_t batch = 0;
  int64_t max_tokens = 0;  // 0 unless with_max_tokens
  int64_t micro = 0;
  std::string device = "auto";
};
TrainerOptions ReadTrainerOptions(Napi::Env env, const Napi::Value& value, const char* cls, bool with_max_tokens);

// o[key] as a finite number / an integer >= min; errors name `what` and the key.
double ReadNumber(Napi::Env env, const Napi::Object& o, const char* key, const char* what);
int64_t ReadCount(Napi::Env env, const Napi::Object& o, const char* key, const char* what, int64_t min);

}  // namespace tfb
