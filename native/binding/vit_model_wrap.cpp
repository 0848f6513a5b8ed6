#include "vit_model_wrap.h"

#include "../core/activations/activation_store.h"
#include "../core/backend.h"
#include "../core/vit/vit_capture.h"
#include "activation_store_wrap.h"
#include "args.h"
#include "capture_task.h"
#include "model_args.h"

namespace tfb {

namespace {

// vitLayout(config) -> { total, tensors: [{ name, shape, offset }], capturePoints: [{ name, tokens, width }] }
Napi::Value VitLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::VitConfig config = ReadVitConfig(env, info[0]);
  tf::VitParamLayout layout(config);
  return DescribeLayout(env, layout.total(), layout.tensors(), tf::vit_capture_points(config), false);
}

// Optional Int32Array of `count` labels (null/undefined: none).
const int32_t* ReadLabels(Napi::Env env, const Napi::Value& v, int64_t count, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowArgError(env, std::string(what) + ": labels must be an Int32Array");
  auto arr = v.As<Napi::Int32Array>();
  if (int64_t(arr.ElementLength()) < count) ThrowArgError(env, std::string(what) + ": fewer labels than images");
  return arr.Data();
}

int64_t ReadCount(Napi::Env env, const Napi::Value& v, const tf::VitConfig& c, const F32View& images,
                  const char* what) {
  const int64_t n = ReadSize(env, v, std::string(what) + ": count");
  if (int64_t(images.length) < n * c.image_floats())
    ThrowArgError(env, std::string(what) + ": images holds " + std::to_string(images.length) + " floats, " +
                           std::to_string(n) + " images of " + std::to_string(c.num_channels) + "x" +
                           std::to_string(c.image_size) + "x" + std::to_string(c.image_size) + " need " +
                           std::to_string(n * c.image_floats()));
  return n;
}

}  // namespace

tf::VitConfig ReadVitConfig(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowArgError(env, "ViT config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  tf::VitConfig c;
  c.image_size = ReadConfigInt(env, o, "imageSize", "ViT config");
  c.patch_size = ReadConfigInt(env, o, "patchSize", "ViT config");
  c.num_channels = ReadConfigInt(env, o, "channels", "ViT config");
  c.hidden_size = ReadConfigInt(env, o, "hidden", "ViT config");
  c.num_layers = ReadConfigInt(env, o, "layers", "ViT config");
  c.num_heads = ReadConfigInt(env, o, "heads", "ViT config");
  c.intermediate_size = ReadConfigInt(env, o, "intermediate", "ViT config");
  c.num_labels = ReadConfigInt(env, o, "labels", "ViT config");
  c.layer_norm_eps = ReadConfigFloat(env, o, "layerNormEps", "ViT config");
  c.qkv_bias = ReadConfigBool(env, o, "qkvBias", "ViT config");
  return Validated(env, c);
}

void VitModelWrap::Register(Napi::Env env, Napi::Object exports) {
  std::vector<Napi::ClassPropertyDescriptor<VitModelWrap>> members = {
      InstanceMethod<&VitModelWrap::Forward>("forward"),
      InstanceMethod<&VitModelWrap::Capture>("capture"),
      InstanceMethod<&VitModelWrap::StageSamples>("stageSamples"),
      InstanceMethod<&VitModelWrap::PlanActivationStore>("planActivationStore"),
      ReadParametersMethod(),
      StaticMethod<&VitModelWrap::BuildStatic>("build"),
      InstanceMethod<&VitModelWrap::SetMicroBatch>("setMicroBatch"),
      MicroBatchAccessor(),
      DisposeMethod(),
      DeviceAccessor()};
  for (auto& m : StagedMethods()) members.push_back(m);
  Napi::Function ctor = Define(env, kClassName, members);
  exports.Set("VitModel", ctor);
  Export<VitLayout>(env, exports, "vitLayout");
}

// VitModel.build(config, parts, captureNames?, options): see ModelWrap::BuildAsync.
Napi::Value VitModelWrap::BuildStatic(const Napi::CallbackInfo& info) {
  return CallGuarded(info.Env(), [&] {
    const auto config = ReadVitConfig(info.Env(), info[0]);
    return BuildAsync(info, config, tf::VitParamLayout(config).total());
  });
}

// new VitModel(External): only from VitModel.build() (ModelWrap::Adopt).
VitModelWrap::VitModelWrap(const Napi::CallbackInfo& info) : ModelWrap(info) { Adopt(info); }

// forward(images, count, labels | null, options) -> Promise<{ logits, losses | null }>
Napi::Value VitModelWrap::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tf::VitConfig& c = live(env).config();
  F32View images = ReadF32(env, info[0], "forward: images");
  int64_t n = ReadCount(env, info[1], c, images, "forward");
  const int32_t* labels = ReadLabels(env, info[2], n, "forward");
  TaskOptions opts = TaskOptions::From(info[3]);
  auto logits = Napi::Float32Array::New(env, size_t(n * c.num_labels));
  Napi::Value losses = env.Null();
  float* loss_ptr = nullptr;
  if (labels) {
    auto l = Napi::Float32Array::New(env, size_t(n));
    loss_ptr = l.Data();
    losses = l;
  }
  std::vector<Napi::Value> keep = {info[0], logits};
  if (labels) keep.insert(keep.end(), {losses, info[2]});
  live(env);
  auto model = model_;
  float* out = logits.Data();
  auto result = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Napi::Object::New(env)));
  result->Value().Set("logits", logits);
  result->Value().Set("losses", losses);
  return Task::Start(
      env, opts, keep,
      [model, images, n, labels, out, loss_ptr](tf::TaskContext& ctx) {
        model->forward(images.data, n, out, labels, loss_ptr, &ctx);
      },
      [result](Napi::Env) -> Napi::Value { return result->Value(); });
}

// capture(store, images, count, labels | null, options) -> Promise<number taken>
Napi::Value VitModelWrap::Capture(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto handle = ActivationStoreWrap::Handle(env, info[0], "capture: store");
  const tf::VitConfig& c = live(env).config();
  F32View images = ReadF32(env, info[1], "capture: images");
  int64_t n = ReadCount(env, info[2], c, images, "capture");
  const int32_t* labels = ReadLabels(env, info[3], n, "capture");
  TaskOptions opts = TaskOptions::From(info[4]);
  std::vector<Napi::Value> keep = {info[0], info[1]};
  if (labels) keep.push_back(info[3]);
  live(env);
  auto model = model_;
  auto work = [model, images, n, labels](tf::ActivationStore& store, tf::TaskContext& ctx) {
    return model->capture(store, images.data, n, labels, &ctx);
  };
  return StartCapture(env, opts, keep, handle, work);
}

// stageSamples(images, count, options) -> Promise<void>: copies the images into the
// model's staged samples (tf::VitModel::stage_samples) on a worker.
Napi::Value VitModelWrap::StageSamples(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tf::VitConfig& c = live(env).config();
  F32View images = ReadF32(env, info[0], "stageSamples: images");
  int64_t n = ReadCount(env, info[1], c, images, "stageSamples");
  auto model = model_;
  return Task::Start(
      env, TaskOptions::From(info[2]), {info[0]},
      [model, images, n](tf::TaskContext&) { model->stage_samples(images.data, n); },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

// planActivationStore(options) -> { bytes, limit, entries: [{ name, rowsPerSample, width }] }
Napi::Value VitModelWrap::PlanActivationStore(const Napi::CallbackInfo& info) {
  tf::ActivationStoreOptions options = ReadStoreOptions(info.Env(), info[0]);
  const auto& model = live(info.Env());
  return DescribeStorePlan(info.Env(), options, model.capture_points(), model.backend(), true);
}

Napi::Value VitModelWrap::SetMicroBatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 1)
    ThrowArgError(info.Env(), "setMicroBatch: n must be a positive integer");
  live(info.Env()).set_micro_batch(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

}  // namespace tfb
