/** Model I/O: safetensors, PyTorch checkpoints, HF config.json and model folders. */
export type { DType, StoredDType, TensorData } from './dtype.ts';
export { bytesPerElement, isFloatDType, memoryDType, STORED_DTYPES } from './dtype.ts';
export type { Tensor } from './tensor.ts';
export { elementCount, floatTensor, formatShape, isTensor, tensorOf, zerosTensor } from './tensor.ts';
export type { ReadOptions, SafetensorsContents, TensorFileContents, WriteOptions } from './safetensors.ts';
export { encodeSafetensors, readSafetensors, writeSafetensors } from './safetensors.ts';
export { readTorchBin } from './torch-bin.ts';
export type { Architecture, BertConfig, EncoderConfig, HfConfig, HiddenAct, ModelType, ViTConfig } from './hf-config.ts';
export { ARCHITECTURES, hfConfigToJson, parseHfConfig, patchGrid, readHfConfig, SUPPORTED_HIDDEN_ACTS } from './hf-config.ts';
export type { ExpectedTensor } from './expected-weights.ts';
export { basePrefix, checkFinite, checkTensorsMatchConfig, expectedTensors, resolveArchitecture } from './expected-weights.ts';
export type { LoadOptions, Model, ModelFormat, ModelSource, SavedModel, SaveOptions } from './model-folder.ts';
export { loadModel, saveModel } from './model-folder.ts';
export type { AtomicOutputOptions } from './atomic-folder.ts';
export { writeFolderAtomically } from './atomic-folder.ts';
export type { ModelSummary, TensorSummary } from './inspect.ts';
export { describeModel, formatModelSummary } from './inspect.ts';
