/** The `nn` namespace: modules, layers, initializers, losses, taps and checkpoints. */
export {
  Module, Sequential, Residual, Lambda, TapRecorder, childContext, type ApplyContext, type InitOptions, type Tap, type TapOf, type TapKind, type TapInfoByKind,
  type DenseTapInfo, type Conv2dTapInfo, type RecurrentTapInfo,
} from './module.js';
export {
  Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, LayerNorm, ReLU, Tanh, Sigmoid, Softplus, GELU, Softmax,
  dropout, layerNorm, gelu, type LinearOptions, type LinearParams, type Conv2dLayerOptions,
} from './layers.js';
export { glorotUniform, glorotNormal, heNormal, heUniform, lecunNormal, zerosInit, sparseInit, fans, INITIALIZERS, type Initializer, type InitializerName } from './init.js';
export { mse, softmaxCrossEntropy, sigmoidBinaryCrossEntropy, type Loss, type Reduction } from './losses.js';
export { serializeTree, deserializeTree, saveTree, loadTree, CheckpointError, type LoadedTree } from './checkpoint.js';
export { inputDerivatives, type InputDerivatives, type InputDerivativesOptions, type PointModel } from './input-derivatives.js';
export { RNN, LSTM, GRU, type RecurrentParams, type RecurrentOptions, type RnnOptions, type RecurrentInputs, type RecurrentResult, type CellState } from './recurrent.js';
export { SequenceReadout, type SequenceReadoutParams, type SequenceReadoutOptions } from './sequence-model.js';
