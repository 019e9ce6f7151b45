/**
 * The one synchronisation point of the training dataflow.
 *
 * Stages run as soon as their input queue has a chunk, so with queues of
 * any size a forward pass could otherwise start on step t+1 while step t's
 * update is still queued, and train on stale weights. `StepGate` counts the
 * steps that are completely finished (update applied, accuracy checked,
 * snapshot taken); a stage that reads the weights (or a generator the
 * model also draws from) awaits `ready(t)`, i.e. "step t − 1 is finished",
 * before touching them.
 *
 * @module
 */

/** Thrown to the stages still waiting when the run stops early. */
export class GateClosedError extends Error {
  /** @param reason why the run stopped */
  constructor(reason: string) {
    super(`StepGate: closed (${reason})`);
    this.name = "GateClosedError";
  }
}

/** Counts finished steps and lets later steps wait for them. */
export class StepGate {
  #finished: number;
  #waiters: { t: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  #closed: Error | null = null;

  /** A gate where steps before `firstStep` count as finished (0 for a fresh run, the checkpoint's step on resume). */
  constructor(firstStep = 0) {
    this.#finished = firstStep - 1;
  }

  /** The last finished step (−1 before the first). */
  get finished(): number {
    return this.#finished;
  }

  /** Marks step `t` finished; it must be the step after the last finished one. */
  finish(t: number): void {
    if (t !== this.#finished + 1) {
      throw new Error(`StepGate.finish: step ${t} finished out of order (the last finished step is ${this.#finished})`);
    }
    this.#finished = t;
    const ready = this.#waiters.filter((w) => w.t - 1 <= t);
    this.#waiters = this.#waiters.filter((w) => w.t - 1 > t);
    for (const w of ready) w.resolve();
  }

  /** Resolves once step t − 1 is finished (at once when it already is); rejects if the gate closes first. */
  ready(t: number): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (t - 1 <= this.#finished) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({ t, resolve, reject });
    return promise;
  }

  /** Rejects every waiter and every later `ready` call: the run is over. */
  close(reason: string): void {
    this.#closed ??= new GateClosedError(reason);
    for (const w of this.#waiters) w.reject(this.#closed);
    this.#waiters = [];
  }
}
