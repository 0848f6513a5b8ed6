/**
 * transformer-fusion's programmatic API. The high-level calls (loadModel, fuse,
 * evaluate, saveModel, runExperiment) cover what the CLI does; the lower levels
 * (transport maps, solvers, native models, datasets) are exported for custom pipelines.
 */
export { evaluate, fuse, type EvaluateOptions, type Evaluation, type FuseOptions, type Fused, type FusionOptions, type SeqFilterInput } from './api.ts';
export { runExperiment, type ExperimentReport, type RunOptions } from './pipeline/run.ts';
export { runBertExperiment, type BertExperimentReport } from './pipeline/bert-run.ts';
export { loadExperimentConfig, parseExperimentConfig } from './config/load.ts';
export type { ExperimentConfig } from './config/experiment.ts';
export { InputError, isAbortError } from './errors.ts';
export * from './io/index.ts';
export * from './nested.ts';
export { backendInfo, setThreads, matmul, weightedSum } from './compute.ts';
export { costMatrix, emd, sinkhorn, sinkhornBatch } from './ot.ts';
export type { CostMatrix, CostMatrixOptions, EmdOptions, EmdResult, FeatureMatrix, SinkhornOptions, SinkhornProblem, SinkhornResult, StoredFeatures } from './ot.ts';
export { createVitModel, vitFromModel, vitFusionGraph, VitModel, type VitConfig } from './models/vit.ts';
export { bertFromModel, BertModel, createBertModel, type BertConfig } from './models/bert.ts';
export { bertFusionGraph } from './models/bert-graph.ts';
export { BertTokenizer } from './text/tokenizer.ts';
export { openTextDataset, type TextSplit } from './text/dataset.ts';
export { maskTokens } from './text/mlm-masking.ts';
export { evaluateBertText, evaluateMaskedLm, evaluateTextClassifier, type BertTextResult } from './text-eval.ts';
export { prepareFortunes } from './text/corpus/fortunes.ts';
export { openDataset, type Dataset } from './data/dataset.ts';
export { evaluate as evaluateClassifier, type EvaluationResult } from './eval.ts';
export { fuse as fuseAligned, vanillaAverage, type FusionParent, type FusionResult, type MapReport } from './fusion/index.ts';
export { landscapeSvg } from './report/landscape-svg.ts';
export { setDefaultDevice, type TaskOptions, type Device } from './native.ts';
export { finetune, train, type TrainResult } from './train/train.ts';
export { trainBert } from './train/bert-train.ts';
export { VitTrainer } from './train/vit-trainer.ts';
export { BertTrainer } from './train/bert-trainer.ts';
export { loadTrainingData } from './train/data.ts';
