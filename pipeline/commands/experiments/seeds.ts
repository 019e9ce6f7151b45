/**
 * `--seeds K`: every configuration of an experiment's plan repeated with K
 * seeds, so that a report can show how much of a difference is the seed's.
 *
 * Replicate 0 of a configuration keeps the run's own seed (the one `--seed`
 * sets), so its records are the same as without `--seeds`; replicate r > 0
 * gets {@link replicateSeed}(seed, r), a hash that depends only on the two
 * numbers: the same command gives the same seeds on any machine, in any
 * order, whichever engine runs the runs.
 *
 * @module
 */

/** Most seeds a configuration may be repeated with. */
export const MAX_SEEDS = 1000;

/**
 * The seed of replicate `replicate` of a run seeded `base`: `base` itself
 * for replicate 0, else a 32-bit mix (murmur3's finalizer) of the two.
 *
 * @param base the run's seed, an integer in [0, 2^32)
 * @param replicate 0, 1, 2, …
 * @returns an integer in [0, 2^32)
 *
 * @example
 * ```ts
 * import { assertEquals, assertNotEquals } from "@std/assert";
 * import { replicateSeed } from "./seeds.ts";
 * assertEquals(replicateSeed(0, 0), 0);
 * assertEquals(replicateSeed(0, 1), replicateSeed(0, 1)); // deterministic
 * assertNotEquals(replicateSeed(0, 1), replicateSeed(1, 1));
 * ```
 */
export function replicateSeed(base: number, replicate: number): number {
  if (!Number.isInteger(base) || base < 0 || base >= 2 ** 32) {
    throw new RangeError(`replicateSeed: base ${base} is not an integer in [0, 2^32)`);
  }
  if (!Number.isInteger(replicate) || replicate < 0) {
    throw new RangeError(`replicateSeed: replicate ${replicate} is not a non-negative integer`);
  }
  if (replicate === 0) return base;
  let h = (base ^ Math.imul(replicate, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A run's label with its seed, as `--seeds` names the replicates: `baseline (seed 0)`. */
export function seededLabel(label: string, seed: number): string {
  return `${label} (seed ${seed})`;
}

/** One configuration and its replicates. */
export interface SeedGroup {
  /** The configuration's label in the plan without `--seeds`. */
  label: string;
  /** Its replicates' labels, replicate 0 first (the shape of `SeedGroup` in `reports/compare.ts`). */
  runs: string[];
  /** Their seeds, in the same order. */
  seeds: number[];
}

/** A task that `--seeds` can repeat: it has a label and a seed. */
export interface SeededTask {
  /** Unique label. */
  label: string;
  /** Its seed (tasks without one, such as gradient checks, cannot be repeated). */
  seed?: number;
}

/**
 * Repeats every task with `seeds` seeds: the replicates of a task follow
 * one another, replicate 0 keeping its seed, each labelled
 * {@link seededLabel}. With `seeds` = 1 the tasks come back as they are (and
 * one group per task).
 *
 * @param tasks the plan without `--seeds`
 * @param seeds K, an integer in [1, {@link MAX_SEEDS}]
 * @returns `tasks`: K·N tasks; `groups`: the N configurations, in plan order
 * @throws RangeError for a bad K or, with K > 1, a task without a seed
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { expandSeeds, replicateSeed } from "./seeds.ts";
 * const { tasks, groups } = expandSeeds([{ label: "a", seed: 5 }, { label: "b", seed: 5 }], 2);
 * const s1 = replicateSeed(5, 1);
 * assertEquals(tasks.map((t) => t.label), ["a (seed 5)", `a (seed ${s1})`, "b (seed 5)", `b (seed ${s1})`]);
 * assertEquals(groups[1].runs, [tasks[2].label, tasks[3].label]);
 * ```
 */
export function expandSeeds<T extends SeededTask>(
  tasks: readonly T[],
  seeds: number,
): { tasks: T[]; groups: SeedGroup[] } {
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > MAX_SEEDS) {
    throw new RangeError(`expandSeeds: seeds ${seeds} is not an integer in [1, ${MAX_SEEDS}]`);
  }
  if (seeds === 1) {
    return {
      tasks: [...tasks],
      groups: tasks.map((t) => ({ label: t.label, runs: [t.label], seeds: t.seed === undefined ? [] : [t.seed] })),
    };
  }
  const out: T[] = [];
  const groups: SeedGroup[] = [];
  for (const task of tasks) {
    if (task.seed === undefined) {
      throw new RangeError(`expandSeeds: task "${task.label}" has no seed to vary`);
    }
    const used = new Set<number>();
    const group: SeedGroup = { label: task.label, runs: [], seeds: [] };
    for (let r = 0, k = 0; r < seeds; k++) {
      const seed = replicateSeed(task.seed, k);
      // A mix that lands on a seed the group already has (about 1 in 2^32) moves on to the next one.
      if (used.has(seed)) continue;
      used.add(seed);
      const label = seededLabel(task.label, seed);
      out.push({ ...task, label, seed });
      group.runs.push(label);
      group.seeds.push(seed);
      r++;
    }
    groups.push(group);
  }
  return { tasks: out, groups };
}

/**
 * The groups of tasks that {@link expandSeeds} made with `seeds` seeds,
 * read back from the tasks alone (a plan keeps the tasks, not the groups):
 * every `seeds` consecutive tasks are one configuration, labelled
 * {@link seededLabel}(label, seed). With `seeds` = 1 every task is its own
 * group under its own label.
 *
 * @throws RangeError when the tasks are not such a list (a count that `seeds` does not divide, a label without its seed)
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { expandSeeds, seedGroupsOf } from "./seeds.ts";
 * const { tasks, groups } = expandSeeds([{ label: "a", seed: 5 }, { label: "b", seed: 5 }], 3);
 * assertEquals(seedGroupsOf(tasks, 3), groups);
 * ```
 */
export function seedGroupsOf(tasks: readonly SeededTask[], seeds: number): SeedGroup[] {
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > MAX_SEEDS) {
    throw new RangeError(`seedGroupsOf: seeds ${seeds} is not an integer in [1, ${MAX_SEEDS}]`);
  }
  if (seeds === 1) {
    return tasks.map((t) => ({ label: t.label, runs: [t.label], seeds: t.seed === undefined ? [] : [t.seed] }));
  }
  if (tasks.length % seeds !== 0) {
    throw new RangeError(`seedGroupsOf: ${tasks.length} tasks are not groups of ${seeds} seeds`);
  }
  const groups: SeedGroup[] = [];
  for (let i = 0; i < tasks.length; i += seeds) {
    const members = tasks.slice(i, i + seeds);
    const bases = members.map((t) => {
      const suffix = t.seed === undefined ? undefined : seededLabel("", t.seed);
      if (suffix === undefined || !t.label.endsWith(suffix)) {
        throw new RangeError(`seedGroupsOf: task "${t.label}" is not labelled with its seed`);
      }
      return t.label.slice(0, -suffix.length);
    });
    if (new Set(bases).size !== 1) {
      throw new RangeError(`seedGroupsOf: tasks ${i} to ${i + seeds - 1} are not one configuration's seeds`);
    }
    groups.push({ label: bases[0], runs: members.map((t) => t.label), seeds: members.map((t) => t.seed!) });
  }
  return groups;
}
