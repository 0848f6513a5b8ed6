#include "bert_trainer_wrap.h"

#include <vector>

#include "../core/backend.h"
#include "args.h"
#include "bert_model_wrap.h"
#include "task.h"

namespace tfb {

namespace {

// A step's batch in host memory, with the typed arrays kept alive while the task runs.
struct StepBatch {
  tf::BertInputs inputs;
  const int32_t* labels = nullptr;
  std::vector<Napi::Value> keep;
};

template <typename Elem>
const Elem* TypedField(Napi::Env env, const Napi::Object& o, const char* key, napi_typedarray_type type,
                       const char* type_name, size_t need, bool required, std::vector<Napi::Value>& keep) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) ThrowArgError(env, std::string("BertTrainer inputs: ") + key + " must be " + type_name);
    return nullptr;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowArgError(env, std::string("BertTrainer inputs: ") + key + " must be " + type_name);
  auto arr = v.As<Napi::TypedArrayOf<Elem>>();
  if (arr.ElementLength() < need)
    ThrowArgError(env, std::string("BertTrainer inputs: ") + key + " holds " + std::to_string(arr.ElementLength()) +
                           " values, " + std::to_string(need) + " needed");
  keep.push_back(v);
  return arr.Data();
}

// (inputs { ids, typeIds?, mask?, count, tokens }, labels Int32Array)
StepBatch ReadStepBatch(const Napi::CallbackInfo& info, const tf::BertTrainer& trainer) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowArgError(env, "BertTrainer inputs must be an object {ids, typeIds?, mask?, count, tokens}");
  Napi::Object o = info[0].As<Napi::Object>();
  StepBatch b;
  b.inputs.count = ReadSize(env, o.Get("count"), "BertTrainer inputs: count");
  b.inputs.tokens = ReadSize(env, o.Get("tokens"), "BertTrainer inputs: tokens");
  if (b.inputs.count < 1 || b.inputs.count > trainer.batch_capacity())
    ThrowArgError(env, "BertTrainer inputs: count must lie in [1, " + std::to_string(trainer.batch_capacity()) + "]");
  if (b.inputs.tokens < 1 || b.inputs.tokens > trainer.max_tokens())
    ThrowArgError(env, "BertTrainer inputs: tokens must lie in [1, " + std::to_string(trainer.max_tokens()) +
                           "] (the trainer's maxTokens)");
  const size_t need = size_t(b.inputs.count * b.inputs.tokens);
  b.inputs.ids = TypedField<int32_t>(env, o, "ids", napi_int32_array, "an Int32Array", need, true, b.keep);
  b.inputs.type_ids = TypedField<int32_t>(env, o, "typeIds", napi_int32_array, "an Int32Array", need, false, b.keep);
  b.inputs.mask = TypedField<uint8_t>(env, o, "mask", napi_uint8_array, "a Uint8Array", need, false, b.keep);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowArgError(env, "BertTrainer: labels must be an Int32Array");
  auto labels = info[1].As<Napi::Int32Array>();
  const size_t want = trainer.config().masked_lm() ? need : size_t(b.inputs.count);
  if (labels.ElementLength() < want)
    ThrowArgError(env, "BertTrainer: " + std::to_string(labels.ElementLength()) + " labels, " + std::to_string(want) +
                           " needed");
  b.labels = labels.Data();
  b.keep.push_back(info[1]);
  return b;
}

Napi::Object StepObject(Napi::Env env, const tf::BertStepResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", Napi::Number::New(env, r.loss));
  o.Set("correct", Napi::Number::New(env, double(r.correct)));
  o.Set("labelled", Napi::Number::New(env, double(r.labelled)));
  o.Set("gradNorm", Napi::Number::New(env, r.grad_norm));
  o.Set("lr", Napi::Number::New(env, r.lr));
  o.Set("step", Napi::Number::New(env, double(r.step)));
  return o;
}

}  // namespace

void BertTrainerWrap::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Define(env, "BertTrainer", &BertTrainerWrap::Step, &BertTrainerWrap::Gradients);
  exports.Set("BertTrainer", ctor);
}

// BertTrainer.build(config, parts, options) -> Promise<{ built } | { nonFinite }>: see TrainerWrap::BuildAsync.
Napi::Value BertTrainerWrap::BuildStatic(const Napi::CallbackInfo& info) {
  return CallGuarded(info.Env(), [&] {
    Napi::Env env = info.Env();
    const auto config = ReadBertConfig(env, info[0]);
    const TrainerOptions o = ReadTrainerOptions(env, info[2], "BertTrainer", true);
    tf::Backend* be = &ResolveBackend(env, o.device, "BertTrainer");
    const int64_t total = tf::BertParamLayout(config).total();
    return BuildAsync(info, "BertTrainer", total, [config, be, total, o](const float* flat) {
      return std::make_shared<tf::BertTrainer>(config, *be, flat, total, o.batch, o.micro, o.max_tokens);
    });
  });
}

// new BertTrainer(External): only from BertTrainer.build() (TrainerWrap::Adopt).
BertTrainerWrap::BertTrainerWrap(const Napi::CallbackInfo& info) : TrainerWrap(info) { Adopt(info, "BertTrainer"); }

// step(inputs, labels, taskOptions) -> Promise<{ loss, correct, labelled, gradNorm, lr, step }>
Napi::Value BertTrainerWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StepBatch b = ReadStepBatch(info, *trainer_);
  TaskOptions opts = TaskOptions::From(info[2]);
  auto trainer = trainer_;
  auto result = std::make_shared<tf::BertStepResult>();
  const tf::BertInputs inputs = b.inputs;
  const int32_t* labels = b.labels;
  return Task::Start(
      env, opts, b.keep,
      [trainer, inputs, labels, result](tf::TaskContext& ctx) { *result = trainer->step(inputs, labels, &ctx); },
      [result](Napi::Env env) -> Napi::Value { return StepObject(env, *result); });
}

// gradients(inputs, labels, taskOptions) -> Promise<{ loss, correct, labelled, gradNorm, grads }>
Napi::Value BertTrainerWrap::Gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StepBatch b = ReadStepBatch(info, *trainer_);
  TaskOptions opts = TaskOptions::From(info[2]);
  auto grads = Napi::Float32Array::New(env, size_t(trainer_->layout().total()));
  b.keep.push_back(grads);
  auto trainer = trainer_;
  auto result = std::make_shared<tf::BertStepResult>();
  float* out = grads.Data();
  auto keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Napi::Object::New(env)));
  keep->Value().Set("grads", grads);
  const tf::BertInputs inputs = b.inputs;
  const int32_t* labels = b.labels;
  return Task::Start(
      env, opts, b.keep,
      [trainer, inputs, labels, out, result](tf::TaskContext& ctx) {
        *result = trainer->gradients(inputs, labels, out, &ctx);
      },
      [keep, result](Napi::Env env) -> Napi::Value {
        Napi::Object o = StepObject(env, *result);
        o.Set("grads", keep->Value().Get("grads"));
        return o;
      });
}

}  // namespace tfb
