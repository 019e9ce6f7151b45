/**
 * A real checkpoint to take apart, shared by the checkpoint tests (Deno std's
 * `_name.ts` convention: not a test file).
 *
 * @module
 */

import { FullyConnectedNet } from "../layers/models/fully_connected_net.ts";
import { RandomState } from "../layers/random.ts";
import { encodeCheckpoint } from "../pipeline/store/checkpoint.ts";
import { Solver } from "../pipeline/solver.ts";

/**
 * The bytes of the last checkpoint of a small seeded adam run: FullyConnectedNet [5] on 16 random training
 * examples (6 features, 3 classes), batch 4, 2 epochs (4 iterations each). The same bytes every call.
 */
export async function smallAdamCheckpoint(): Promise<Uint8Array> {
  const rs = new RandomState(5);
  const xTrain = rs.randn(16, 6), xVal = rs.randn(8, 6);
  const yTrain = Int32Array.from(rs.randint(0, 3, [16]).data), yVal = Int32Array.from(rs.randint(0, 3, [8]).data);
  const random = new RandomState(1);
  const model = new FullyConnectedNet([5], { inputDim: 6, numClasses: 3, random, weightScale: 0.1 });
  let last: Uint8Array | undefined;
  const solver = new Solver(model, { xTrain, yTrain, xVal, yVal }, {
    updateRule: "adam",
    batchSize: 4,
    numEpochs: 2,
    random,
    verbose: false,
    sinks: [
      new WritableStream({
        async write(e) {
          if (e.snapshot) last = await encodeCheckpoint(e.snapshot, solver.runInfo());
        },
      }),
    ],
  });
  await solver.train();
  return last!;
}
