#include "vit_model_wrap.h"

#include "../core/activations/activation_store.h"
#include "../core/backend.h"
#include "../core/vit/vit_capture.h"
#include "activation_store_wrap.h"
#include "task.h"

namespace tfb {

Napi::FunctionReference* VitModelWrap::constructor_ = nullptr;

namespace {

int64_t ReadInt(Napi::Env env, const Napi::Object& obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) ThrowArgError(env, std::string("ViT config: ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d))) ThrowArgError(env, std::string("ViT config: ") + key + " must be an integer");
  return int64_t(d);
}

// 'auto' runs the model on the GPU when one is usable (every encoder op has its CUDA
// twin), else on the CPU; 'cuda' without a usable GPU is an error that says why.
tf::Backend& ModelBackend(const std::string& device) {
  if (device == "cuda" && !tf::cuda_available())
    throw tf::Error("VitModel: device 'cuda' was asked for, but CUDA is not available: " + tf::cuda_unavailable_reason());
  return tf::backend_for(device);
}

Napi::Array Shape(Napi::Env env, const std::vector<int64_t>& dims) {
  Napi::Array a = Napi::Array::New(env, dims.size());
  for (size_t i = 0; i < dims.size(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, double(dims[i])));
  return a;
}

// vitLayout(config) -> { total, tensors: [{ name, shape, offset }], capturePoints: [{ name, tokens, width }] }
Napi::Value VitLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::VitConfig config = ReadVitConfig(env, info[0]);
  tf::VitParamLayout layout(config);
  Napi::Object out = Napi::Object::New(env);
  out.Set("total", Napi::Number::New(env, double(layout.total())));
  Napi::Array tensors = Napi::Array::New(env, layout.tensors().size());
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const auto& t = layout.tensors()[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("shape", Shape(env, t.shape));
    o.Set("offset", Napi::Number::New(env, double(t.offset)));
    tensors.Set(uint32_t(i), o);
  }
  out.Set("tensors", tensors);
  auto points = tf::vit_capture_points(config);
  Napi::Array pts = Napi::Array::New(env, points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", points[i].name);
    o.Set("tokens", Napi::Number::New(env, double(points[i].tokens)));
    o.Set("width", Napi::Number::New(env, double(points[i].width)));
    pts.Set(uint32_t(i), o);
  }
  out.Set("capturePoints", pts);
  return out;
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
  if (!v.IsNumber()) ThrowArgError(env, std::string(what) + ": count must be a number");
  int64_t n = v.As<Napi::Number>().Int64Value();
  if (n < 0) ThrowArgError(env, std::string(what) + ": count must not be negative");
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
  c.image_size = ReadInt(env, o, "imageSize");
  c.patch_size = ReadInt(env, o, "patchSize");
  c.num_channels = ReadInt(env, o, "channels");
  c.hidden_size = ReadInt(env, o, "hidden");
  c.num_layers = ReadInt(env, o, "layers");
  c.num_heads = ReadInt(env, o, "heads");
  c.intermediate_size = ReadInt(env, o, "intermediate");
  c.num_labels = ReadInt(env, o, "labels");
  Napi::Value eps = o.Get("layerNormEps");
  if (!eps.IsNumber()) ThrowArgError(env, "ViT config: layerNormEps must be a number");
  c.layer_norm_eps = eps.As<Napi::Number>().FloatValue();
  Napi::Value bias = o.Get("qkvBias");
  if (!bias.IsBoolean()) ThrowArgError(env, "ViT config: qkvBias must be a boolean");
  c.qkv_bias = bias.As<Napi::Boolean>().Value();
  try {
    c.validate();
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  return c;
}

void VitModelWrap::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "VitModel",
                  {InstanceMethod<&VitModelWrap::Forward>("forward"),
                   InstanceMethod<&VitModelWrap::Capture>("capture"),
                   InstanceMethod<&VitModelWrap::PlanActivationStore>("planActivationStore"),
                   InstanceMethod<&VitModelWrap::ReadParameters>("readParameters"),
                   InstanceMethod<&VitModelWrap::SetMicroBatch>("setMicroBatch"),
                   InstanceAccessor<&VitModelWrap::GetMicroBatch>("microBatch"),
                   InstanceMethod<&VitModelWrap::Dispose>("dispose"),
                   InstanceAccessor<&VitModelWrap::GetDevice>("device")});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("VitModel", ctor);
  Export<VitLayout>(env, exports, "vitLayout");
}

// new VitModel(config, params, captureNames?, { device? })
VitModelWrap::VitModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VitModelWrap>(info) {
  Napi::Env env = info.Env();
  try {
    tf::VitConfig config = ReadVitConfig(env, info[0]);
    F32View params = ReadF32(env, info[1], "VitModel: params");
    std::vector<std::string> names;
    if (info[2].IsArray()) {
      Napi::Array arr = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) ThrowArgError(env, "VitModel: captureNames must be strings");
        names.push_back(v.As<Napi::String>().Utf8Value());
      }
    } else if (!info[2].IsUndefined() && !info[2].IsNull()) {
      ThrowArgError(env, "VitModel: captureNames must be an array of strings");
    }
    std::string device = "auto";
    if (info[3].IsObject()) {
      Napi::Value d = info[3].As<Napi::Object>().Get("device");
      if (d.IsString()) device = d.As<Napi::String>().Utf8Value();
    }
    model_ = std::make_shared<tf::VitModel>(config, ModelBackend(device), params.data, int64_t(params.length), names);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

std::shared_ptr<tf::VitModel> VitModelWrap::ModelOf(const Napi::Value& value) {
  if (!value.IsObject() || !constructor_) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(constructor_->Value())) return nullptr;
  return Napi::ObjectWrap<VitModelWrap>::Unwrap(obj)->model_;
}

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
  auto taken = std::make_shared<int64_t>(0);
  return Task::Start(
      env, opts, keep,
      [model, handle, images, n, labels, taken](tf::TaskContext& ctx) {
        std::lock_guard<std::mutex> lock(handle->mutex);
        if (!handle->store) throw tf::Error("capture: the activation store was disposed");
        *taken = model->capture(*handle->store, images.data, n, labels, &ctx);
      },
      [taken](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(*taken)); });
}

// planActivationStore(options) -> { bytes, limit, entries: [{ name, rowsPerSample, width }] }
Napi::Value VitModelWrap::PlanActivationStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::ActivationStoreOptions o = ReadStoreOptions(env, info[0]);
  tf::ActivationStore::Plan plan;
  try {
    plan = tf::ActivationStore::plan(live(env).capture_points(), o);
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", Napi::Number::New(env, double(plan.bytes)));
  out.Set("limit", Napi::Number::New(env, double(o.max_bytes ? o.max_bytes : tf::default_activation_limit())));
  Napi::Array entries = Napi::Array::New(env);
  for (size_t i = 0; i < plan.entries.size(); ++i) {
    if (!plan.entries[i].kept) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", plan.entries[i].name);
    e.Set("rowsPerSample", Napi::Number::New(env, double(plan.entries[i].rows_per_sample)));
    e.Set("width", Napi::Number::New(env, double(plan.entries[i].width)));
    entries.Set(entries.Length(), e);
  }
  out.Set("entries", entries);
  return out;
}

Napi::Value VitModelWrap::ReadParameters(const Napi::CallbackInfo& info) {
  tf::VitModel& model = live(info.Env());
  auto out = Napi::Float32Array::New(info.Env(), size_t(model.layout().total()));
  model.read_parameters(out.Data());
  return out;
}

Napi::Value VitModelWrap::SetMicroBatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 1)
    ThrowArgError(info.Env(), "setMicroBatch: n must be a positive integer");
  live(info.Env()).set_micro_batch(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value VitModelWrap::GetMicroBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env()).micro_batch()));
}

Napi::Value VitModelWrap::GetDevice(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tf::device_name(live(info.Env()).backend().device()));
}

tf::VitModel& VitModelWrap::live(Napi::Env env) const {
  if (!model_) ThrowArgError(env, "this VitModel was disposed");
  return *model_;
}

// dispose(): frees the native weights and buffers now (tasks already running keep theirs).
Napi::Value VitModelWrap::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  return info.Env().Undefined();
}

}  // namespace tfb
