/**
 * gradstream: the building blocks of neural networks from Stanford CS231n
 * assignment 2 (batch normalization, dropout, convolutional networks), in
 * TypeScript, checked against numpy and PyTorch, with training as a Web
 * Streams pipeline.
 *
 * Users do three things:
 *
 * 1. Train: `deno task train` (the course's batchnorm-experiment net on the
 *    embedded CIFAR-10 sample; `--help` lists the flags).
 * 2. Check: `deno task test` runs every gradient check and reference
 *    comparison.
 * 3. Compose the layers themselves:
 *
 * @example
 * ```ts
 * import { assertLess } from "@std/assert";
 * import { affineBackward, affineForward, array, evalNumericalGradient, relError, softmaxLoss } from "./mod.ts";
 *
 * const x = array([[1, 2], [3, 4]]);
 * const w = array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
 * const b = array([0, 0, 0]);
 * const y = new Int32Array([0, 2]);
 * const { out, cache } = affineForward(x, w, b);
 * const { dx: dscores } = softmaxLoss(out, y);
 * const { dw } = affineBackward(dscores, cache);
 * // The analytic gradient agrees with centered differences of the loss.
 * const numeric = evalNumericalGradient(() => softmaxLoss(affineForward(x, w, b).out, y).loss, w);
 * assertLess(relError(dw, numeric), 1e-7);
 * ```
 *
 * @module
 */

// Tensors and the matrix-multiply seam
export {
  add,
  allocData,
  argmaxRows,
  array,
  astype,
  clone,
  type Data,
  type DType,
  formatShape,
  full,
  linspace,
  map,
  mul,
  type Nested,
  reshape,
  scale,
  sub,
  sum,
  Tensor,
  toNested,
  transpose,
  zeros,
  zerosLike,
} from "./layers/tensor.ts";
export {
  gemm,
  type GemmArgs,
  type GemmBackend,
  gemmBackend,
  matmul,
  setGemmBackend,
  tsBackend,
} from "./layers/kernels/gemm.ts";
export { globalRandomState, type MutableArrayLike, RandomState, type RandomStateSnapshot } from "./layers/random.ts";

// Gradient checking
export {
  evalNumericalGradient,
  evalNumericalGradientArray,
  gradCheckSparse,
  type NumericGradientOptions,
  relError,
  type SparseCheck,
} from "./layers/gradient_check.ts";

// Layers
export {
  affineBackward,
  type AffineCache,
  affineForward,
  type AffineForwardResult,
  type AffineGrads,
} from "./layers/affine.ts";
export { reluBackward, type ReluCache, reluForward } from "./layers/relu.ts";
export { type LossResult, softmaxLoss } from "./layers/softmax_loss.ts";
export { svmLoss } from "./layers/svm_loss.ts";
export {
  batchnormBackward,
  batchnormBackwardAlt,
  type BatchnormCache,
  batchnormForward,
  type BatchnormForwardResult,
  type BatchnormParam,
  type ChannelLayout,
  type NormGrads,
} from "./layers/batchnorm.ts";
export {
  layernormBackward,
  type LayernormCache,
  layernormForward,
  type LayernormForwardResult,
  type LayernormParam,
  type RowLayout,
} from "./layers/layernorm.ts";
export {
  dropoutBackward,
  type DropoutCache,
  dropoutForward,
  type DropoutMode,
  type DropoutParam,
} from "./layers/dropout.ts";
export {
  convBackwardNaive,
  type ConvCache,
  convForwardNaive,
  type ConvForwardResult,
  type ConvGrads,
} from "./layers/conv_naive.ts";
export { convBackwardFast, convForwardFast } from "./layers/conv_fast.ts";
export { type ConvGeometry, type ConvParam, type PoolParam } from "./layers/conv_params.ts";
export {
  maxPoolBackwardNaive,
  type MaxPoolCache,
  maxPoolForwardNaive,
  type MaxPoolForwardResult,
  type MaxPoolGrads,
} from "./layers/max_pool_naive.ts";
export { maxPoolBackwardFast, maxPoolForwardFast } from "./layers/max_pool_fast.ts";
export {
  spatialBatchnormBackward,
  type SpatialBatchnormCache,
  spatialBatchnormForward,
} from "./layers/spatial_batchnorm.ts";
export {
  type GroupnormParam,
  spatialGroupnormBackward,
  type SpatialGroupnormCache,
  spatialGroupnormForward,
} from "./layers/spatial_groupnorm.ts";
export {
  affineBatchnormReluBackward,
  type AffineBatchnormReluCache,
  affineBatchnormReluForward,
  affineLayernormReluBackward,
  type AffineLayernormReluCache,
  affineLayernormReluForward,
  affineReluBackward,
  type AffineReluCache,
  affineReluForward,
  convBatchnormReluBackward,
  type ConvBatchnormReluCache,
  convBatchnormReluForward,
  convReluBackward,
  type ConvReluCache,
  convReluForward,
  convReluPoolBackward,
  type ConvReluPoolCache,
  convReluPoolForward,
  type LinearGrads,
  type LinearNormGrads,
} from "./layers/sandwich.ts";

// Models
export type { Labels, LossAndGrads, Model } from "./layers/models/model.ts";
export {
  FullyConnectedNet,
  type FullyConnectedNetOptions,
  type Normalization,
} from "./layers/models/fully_connected_net.ts";
export { ThreeLayerConvNet, type ThreeLayerConvNetOptions } from "./layers/models/three_layer_convnet.ts";
export {
  formatSequentialLayer,
  formatSequentialSpec,
  parseSequentialSpec,
  Sequential,
  type SequentialLayer,
  type SequentialOptions,
  type SequentialSpec,
  SequentialSpecError,
} from "./layers/models/sequential.ts";

// Datasets
export type { Dataset } from "./datasets/dataset.ts";
export {
  DATASET_FORMATS,
  DATASET_SPECS,
  type DatasetFormat,
  DatasetSpecError,
  loadDataset,
  parseDatasetSpec,
} from "./datasets/registry.ts";
export { CIFAR10_CLASS_NAMES, type Cifar10Options, loadCifar10 } from "./datasets/cifar10.ts";
export {
  FASHION_MNIST_CLASS_NAMES,
  type IdxDatasetOptions,
  loadFashionMnist,
  loadMnist,
  MNIST_CLASS_NAMES,
} from "./datasets/idx.ts";
export { loadSample, type SampleOptions } from "./datasets/sample.ts";
export { DatasetFormatError } from "./datasets/records.ts";
export type { LoadOptions } from "./datasets/split.ts";

// Update rules and checkpoint files
export {
  adam,
  type AdamConfig,
  adamw,
  type AdamwConfig,
  type OptimConfig,
  type RecipeRuleOptions,
  recipeUpdateRule,
  rmsprop,
  type RmspropConfig,
  sgd,
  type SgdConfig,
  sgdMomentum,
  type SgdMomentumConfig,
  sgdNesterov,
  type SgdTorchConfig,
  sgdWeightDecay,
  type UpdateResult,
  type UpdateRule,
  type UpdateRuleName,
  updateRules,
} from "./pipeline/update_rules.ts";
export {
  decodeSafetensors,
  type DecodeSafetensorsOptions,
  encodeSafetensors,
  type IntData,
  type IntDType,
  type IntTensor,
  readSafetensors,
  type SafetensorsDType,
  SafetensorsError,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsValue,
  writeSafetensors,
} from "./pipeline/store/safetensors.ts";
export { type AtomicWriteOptions, writeFileAtomic } from "./pipeline/store/atomic_write.ts";

// gemm backends
export {
  availableBackends,
  chooseBestBackend,
  describeGemmBackend,
  GEMM_BACKEND_NAMES,
  type GemmBackendInfo,
  type GemmBackendName,
  useGemmBackend,
  type UseGemmBackendOptions,
} from "./layers/kernels/gemm_backends.ts";

// The parallel engine: threads for the layers
export {
  closeThreads,
  defaultThreads,
  describeThreads,
  MAX_THREADS,
  runningWorkers,
  setThreads,
  startThreads,
  threads,
} from "./layers/kernels/parallel.ts";

// The training pipeline
export {
  Solver,
  type SolverData,
  type SolverOptions,
  train,
  TrainingStoppedError,
  type TrainResult,
} from "./pipeline/solver.ts";
export type {
  EndRecord,
  EpochRecord,
  IterationRecord,
  RunDescription,
  StartRecord,
  StoppedRecord,
  TrainRecord,
} from "./pipeline/store/records.ts";
export { BatchSampler, courseSchedule, type SamplingMode, type Schedule } from "./pipeline/schedule.ts";
export { StepGate } from "./pipeline/step_gate.ts";
export type { Gradients, HighWaterMarks, Minibatch, Step, Stop, Ticket, TrainEvent } from "./pipeline/messages.ts";
export type { RandomSnapshot, SolverState, TrainingSnapshot } from "./pipeline/training_state.ts";
export type { ProgressSinkOptions } from "./pipeline/progress.ts";
export { checkAccuracy, type CheckAccuracyOptions } from "./pipeline/check_accuracy.ts";
export { confusionMatrix, evaluateModel, type Evaluation, predictLabels } from "./pipeline/test_evaluation.ts";
export {
  type Checkpoint,
  CheckpointError,
  type CheckpointRunInfo,
  loadCheckpoint,
  saveCheckpoint,
} from "./pipeline/store/checkpoint.ts";
export { collectRecords, parseRunLog, readRunLog } from "./pipeline/store/run_log.ts";
export { minibatchStage, type MinibatchStageOptions } from "./pipeline/minibatch_stage.ts";
export {
  augmentBatch,
  type AugmentSpec,
  augmentStage,
  type AugmentStageOptions,
  formatAugmentSpec,
  parseAugmentSpec,
} from "./pipeline/augment_stage.ts";
export {
  formatLrSchedule,
  LR_SCHEDULE_FORMS,
  type LrSchedule,
  parseLrSchedule,
  scheduledLearningRate,
} from "./pipeline/lr_schedule.ts";
export { forwardBackwardStage, type ForwardBackwardStageOptions } from "./pipeline/forward_backward_stage.ts";
export { optimizerStage, type OptimizerStageOptions } from "./pipeline/optimizer_stage.ts";
export { evaluationStage, type EvaluationStageOptions } from "./pipeline/evaluation_stage.ts";
