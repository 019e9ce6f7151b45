/**
 * The streaming Solver against an independent oracle: the course's
 * solver.py, optim.py, fc_net.py and cnn.py written out in numpy
 * (tests/fixtures/solver_oracle.py, which made solver_oracle.json). Same
 * sample, seed 231, same settings; both the course's sampling with
 * replacement and `--shuffle`'s permutation per epoch.
 *
 * Agreement is measured as relative error: per loss or accuracy
 * `|a − b| / |b|`; per parameter array `max |a − b| / max |b|` (normwise), on
 * the whole array when the fixture stores it, else on its 256 stored values,
 * plus its sum of squares (relative) and its sum (against its sum of
 * absolute values). float64 must agree to 1e-10 per array; float32
 * (rounding every stored value to 24 bits) to 1e-5, its parameters measured
 * over the whole parameter vector (largest difference over largest value),
 * since a small array such as a conv bias moves by single ReLU decisions
 * (see {@link CONV_FLOAT32_PARAMS}).
 *
 * Biases that feed batch norm have an analytic gradient of zero, so their
 * values are rounding noise (amplified by Adam's 1/epsilon): they are bounded,
 * not compared, and the running means are compared with each side's running
 * average of that noise taken out (see BIASES in solver_oracle.py).
 *
 * Matrix products use the `ts` gemm backend, the same on every machine.
 */

import { assertEquals, assertLessOrEqual } from "@std/assert";
import { loadSample } from "../datasets/sample.ts";
import { setGemmBackend, tsBackend } from "../layers/kernels/gemm.ts";
import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import type { Labels, LossAndGrads, Model } from "../layers/models/model.ts";
import { ThreeLayerConvNet } from "../layers/models/three_layer_convnet.ts";
import { RandomState } from "../layers/random.ts";
import type { DType, Tensor } from "../layers/tensor.ts";
import type { TrainEvent } from "../pipeline/messages.ts";
import { Solver } from "../pipeline/solver.ts";
import type { SolverState, TrainingSnapshot } from "../pipeline/training_state.ts";
import { readFixture } from "./helpers.ts";

/** An array as solver_oracle.py stores it: whole, or summarised. */
type Stored =
  | { shape: number[]; data: number[] }
  | { shape: number[]; sum: number; sumSquares: number; sumAbs: number; indices: number[]; values: number[] };

/** A run as solver_oracle.py stores it: the Solver's histories and best accuracy, then its arrays. */
interface OracleResult extends Pick<SolverState, "lossHistory" | "trainAccHistory" | "valAccHistory" | "bestValAcc"> {
  sampling: "replacement" | "shuffle";
  paramsLast: Record<string, Stored>;
  paramsFinal: Record<string, Stored>;
  state: Record<string, Stored>;
  /** Per bias that feeds batch norm: its running average (keyed by the running mean it is in) and its largest |b|. */
  biases: { runningMean: Record<string, Stored>; max: Record<string, number> };
}

interface OracleRun {
  // deno-lint-ignore no-explicit-any
  settings: Record<string, any>;
  results: OracleResult[];
}

setGemmBackend(tsBackend);

const fx: { seed: number; runs: Record<"fc" | "cnn", OracleRun> } = await readFixture("solver_oracle.json");

/** The largest relative error of the numbers in `a` against `b` (same lengths). */
function seriesError(a: readonly number[], b: readonly number[], what: string): number {
  assertEquals(a.length, b.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return worst;
}

/** Largest difference and largest reference magnitude over the values an array's reference stores. */
interface Spread {
  diff: number;
  scale: number;
  /** Relative errors of a summarised array's sum of squares and sum (against its sum of absolute values). */
  sums: number;
}

function spread(t: Tensor, ref: Stored, what: string, minus?: Float64Array, refMinus?: Stored): Spread {
  assertEquals([...t.shape], ref.shape, `${what}: shape`);
  const d = minus ? Float64Array.from(t.data, (v, i) => v - minus[i]) : t.data;
  const values = "data" in ref ? ref.data : ref.values;
  const indices = "data" in ref ? null : ref.indices;
  const refOffset = refMinus && "data" in refMinus ? refMinus.data : null;
  let diff = 0, scale = 0;
  values.forEach((v, j) => {
    const r = v - (refOffset?.[j] ?? 0);
    diff = Math.max(diff, Math.abs(d[indices ? indices[j] : j] - r));
    scale = Math.max(scale, Math.abs(r));
  });
  if ("data" in ref) return { diff, scale, sums: 0 };
  let sum = 0, sumSquares = 0;
  for (let i = 0; i < d.length; i++) {
    sum += d[i];
    sumSquares += d[i] * d[i];
  }
  const sums = Math.max(Math.abs(sumSquares - ref.sumSquares) / ref.sumSquares, Math.abs(sum - ref.sum) / ref.sumAbs);
  return { diff, scale, sums };
}

/**
 * The relative error of a set of arrays: per array (`perArray`), the worst
 * of `diff / scale` and the sums; or over the set as one vector, the largest
 * difference over the largest magnitude, and the sums. Returns the error and
 * the array it comes from.
 */
function setError(spreads: Record<string, Spread>, perArray: boolean): [number, string] {
  let worst = 0, where = "";
  const raise = (e: number, k: string) => {
    if (e > worst || where === "") [worst, where] = [e, k];
  };
  const scale = Math.max(...Object.values(spreads).map((s) => s.scale));
  for (const [k, s] of Object.entries(spreads)) {
    raise(s.diff / (perArray ? s.scale : scale), k);
    raise(s.sums, k);
  }
  return [worst, where];
}

/** A model that also keeps, per watched bias, its running average and largest |b| over the training passes. */
class BiasWatch implements Model {
  readonly runningMean: Record<string, Float64Array> = {};
  readonly max: Record<string, number> = {};
  constructor(readonly inner: Model, readonly watched: string[]) {
    for (const b of watched) {
      this.runningMean[b] = new Float64Array(inner.params[b].size);
      this.max[b] = 0;
    }
  }
  get params(): Record<string, Tensor> {
    return this.inner.params;
  }
  set params(p: Record<string, Tensor>) {
    this.inner.params = p;
  }
  loss(X: Tensor): Tensor;
  loss(X: Tensor, y: Labels): LossAndGrads;
  loss(X: Tensor, y?: Labels): Tensor | LossAndGrads {
    if (y === undefined) return this.inner.loss(X);
    for (const b of this.watched) {
      const d = this.inner.params[b].data, avg = this.runningMean[b];
      for (let i = 0; i < d.length; i++) {
        avg[i] = 0.9 * avg[i] + 0.1 * d[i];
        this.max[b] = Math.max(this.max[b], Math.abs(d[i]));
      }
    }
    return this.inner.loss(X, y);
  }
  state(): Record<string, Tensor> {
    return this.inner.state();
  }
  loadState(state: Record<string, Tensor>): void {
    this.inner.loadState(state);
  }
}

function buildModel(name: "fc" | "cnn", dtype: DType, random: RandomState): Model {
  const s = fx.runs[name].settings;
  return name === "fc"
    ? new FullyConnectedNet(s.hiddenDims, {
      normalization: s.normalization,
      dropout: s.dropout,
      reg: s.reg,
      weightScale: s.weightScale,
      dtype,
      random,
    })
    : new ThreeLayerConvNet({
      numFilters: s.numFilters,
      filterSize: s.filterSize,
      hiddenDim: s.hiddenDim,
      reg: s.reg,
      weightScale: s.weightScale,
      dtype,
      random,
    });
}

const RULES = { adam: "adam", sgd_momentum: "sgdMomentum" } as const;
const TOLERANCE: Record<DType, number> = { float64: 1e-10, float32: 1e-5 };
/**
 * The one exception, measured and explained: in float32 a few of the
 * convnet's pre-activations land within float32 rounding of zero, so the
 * ReLU decides differently from the float64 oracle there, and that
 * position's gradient (pixel values of about ±100 times its upstream
 * gradient) moves W1 by ~1e-5 at the next update: 2.7e-4 of the parameters'
 * scale in the shuffle run (the loss history and every accuracy check still
 * agree to 1e-5). float32 cannot promise more for a net that decides on
 * signs; the float64 runs show that the arithmetic itself agrees to 1e-14.
 */
const CONV_FLOAT32_PARAMS = 1e-3;

for (const name of ["fc", "cnn"] as const) {
  for (const ref of fx.runs[name].results) {
    for (const dtype of ["float64", "float32"] as const) {
      const tol = TOLERANCE[dtype];
      const label = `${name === "fc" ? "FullyConnectedNet" : "ThreeLayerConvNet"}, ${ref.sampling}, ${dtype}`;
      const paramsBound = dtype === "float32" && name === "cnn" ? CONV_FLOAT32_PARAMS : tol;
      const bounds = paramsBound === tol
        ? tol.toExponential()
        : `${tol.toExponential()}, its parameters to ${paramsBound.toExponential()}`;
      Deno.test(`Solver matches the numpy oracle of the course's solver.py to ${bounds} (${label})`, async () => {
        const s = fx.runs[name].settings;
        const data = await loadSample({ numTraining: s.numTrain, dtype });
        const random = new RandomState(fx.seed);
        const watched = Object.keys(ref.biases.max);
        const model = new BiasWatch(buildModel(name, dtype, random), watched);
        let last: TrainingSnapshot | undefined;
        const result = await new Solver(model, data, {
          updateRule: RULES[s.updateRule as keyof typeof RULES],
          optimConfig: { learningRate: s.learningRate },
          lrDecay: s.lrDecay,
          batchSize: s.batchSize,
          numEpochs: s.numEpochs,
          numTrainSamples: s.numTrainSamples,
          numValSamples: s.numValSamples,
          sampling: ref.sampling,
          random,
          verbose: false,
          sinks: [
            new WritableStream<TrainEvent>({
              write(e) {
                if (e.snapshot) last = e.snapshot;
              },
            }),
          ],
        }).train();
        // The run's last step closes an epoch, so the last snapshot holds the parameters after it.
        assertEquals(last?.iteration, ref.lossHistory.length, "the last snapshot is taken after the last step");

        // Biases feeding batch norm are rounding noise (see solver_oracle.py, BIASES): bounded, not compared;
        // the running means compared with the running average of that noise taken out on both sides.
        const params = (got: Record<string, Tensor>, stored: Record<string, Stored>, what: string) => {
          assertEquals(Object.keys(got).sort(), Object.keys(stored).sort(), `${what}: names`);
          return Object.fromEntries(
            Object.keys(stored).filter((k) => !watched.includes(k)).map((k) => [k, spread(got[k], stored[k], k)]),
          );
        };
        const state = model.state();
        assertEquals(Object.keys(state).sort(), Object.keys(ref.state).sort(), "state: names");
        const stats = Object.fromEntries(
          Object.keys(ref.state).map((k) => {
            const bias = `b${k.replace(/^running(Mean|Var)/, "")}`;
            const noisy = k.startsWith("runningMean") && watched.includes(bias);
            return [
              k,
              spread(state[k], ref.state[k], k, noisy ? model.runningMean[bias] : undefined, ref.biases.runningMean[k]),
            ];
          }),
        );
        const perArray = dtype === "float64";
        const errors: Record<string, [number, string]> = {
          loss: [seriesError(result.lossHistory, ref.lossHistory, "loss"), ""],
          trainAcc: [seriesError(result.trainAccHistory, ref.trainAccHistory, "train acc"), ""],
          valAcc: [seriesError(result.valAccHistory, ref.valAccHistory, "val acc"), ""],
          bestValAcc: [seriesError([result.bestValAcc], [ref.bestValAcc], "best val acc"), ""],
          paramsLast: setError(params(last!.params, ref.paramsLast, "last params"), perArray),
          paramsFinal: setError(params(model.params, ref.paramsFinal, "final params"), perArray),
          ...(Object.keys(stats).length > 0 ? { runningStats: setError(stats, true) } : {}),
        };
        const noise = watched.map((b) =>
          `|${b}| ≤ ${model.max[b].toExponential(1)} (numpy ${ref.biases.max[b].toExponential(1)})`
        );
        console.log(
          `${label}: ` +
            Object.entries(errors).map(([k, [e, where]]) => `${k} ${e.toExponential(1)}${where ? ` (${where})` : ""}`)
              .join(", ") +
            (noise.length > 0 ? `; bias noise ${noise.join(", ")}` : ""),
        );
        for (const [k, [e, where]] of Object.entries(errors)) {
          const bound = k.startsWith("params") ? paramsBound : tol;
          assertLessOrEqual(e, bound, `${k} ${where}`);
        }
        // In float64 the noise stays near rounding (a real gradient would move a bias by ~lr per Adam step).
        if (dtype === "float64") { for (const b of watched) assertLessOrEqual(model.max[b], 1e-9, `${b} noise`); }
      });
    }
  }
}
