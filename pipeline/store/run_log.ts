/**
 * The NDJSON run log: one {@link TrainRecord} per line.
 *
 * Lines are buffered and appended to the file at every accuracy check, at
 * the end and when the run stops (so a killed run loses at most the steps
 * since its last check, never a partial line mid-file). Starting a run
 * replaces the file atomically; resuming one rewrites it (atomically) to the
 * records up to its checkpoint, then appends.
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";
import type { TrainEvent } from "../messages.ts";
import type { TrainRecord } from "./records.ts";

/**
 * Parses NDJSON run-log text. A last line cut short (a process killed while
 * appending) is ignored; a bad line elsewhere is an error naming its line.
 */
export function parseRunLog(text: string, source = "run log"): TrainRecord[] {
  const lines = text.split("\n");
  const records: TrainRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    try {
      const r = JSON.parse(line);
      if (typeof r !== "object" || r === null || typeof r.kind !== "string") throw new Error("no record kind");
      records.push(r as TrainRecord);
    } catch (e) {
      if (i === lines.length - 1) break;
      throw new Error(`parseRunLog: ${source} line ${i + 1} is not a record (${(e as Error).message})`);
    }
  }
  return records;
}

/** Reads and parses a run log (see {@link parseRunLog}). */
export async function readRunLog(path: string): Promise<TrainRecord[]> {
  return parseRunLog(await Deno.readTextFile(path), path);
}

function toNdjson(records: TrainRecord[]): string {
  return records.map((r) => JSON.stringify(r) + "\n").join("");
}

/**
 * Prepares the log file for a run: empties it (a fresh run, `resumeAt`
 * undefined) or keeps only the records of steps up to `resumeAt` (a resumed
 * run: `start` records and every record with `iteration ≤ resumeAt`, minus
 * `end` / `stopped`), written atomically.
 */
export async function prepareRunLog(path: string, resumeAt?: number): Promise<void> {
  if (resumeAt === undefined) return await writeFileAtomic(path, "", { sync: false });
  let records: TrainRecord[] = [];
  try {
    records = await readRunLog(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const kept = records.filter((r) =>
    r.kind === "start" || (r.kind !== "end" && r.kind !== "stopped" && r.iteration <= resumeAt)
  );
  await writeFileAtomic(path, toNdjson(kept), { sync: false });
}

/** Options of {@link runLogSink}. */
export interface RunLogSinkOptions {
  /** `syncData` after each append (survives a machine crash, not just a killed process). Default false. */
  sync?: boolean;
}

/**
 * A sink appending each event's record as one JSON line to `path` (which
 * {@link prepareRunLog} should have prepared), flushed at every `epoch`,
 * `end` and `stopped` record and when the stream closes or aborts.
 */
export function runLogSink(path: string, options: RunLogSinkOptions = {}): WritableStream<TrainEvent> {
  let pending: TrainRecord[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const text = toNdjson(pending);
    pending = [];
    const file = await Deno.open(path, { append: true, create: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
      if (options.sync) await file.syncData();
    } finally {
      file.close();
    }
  };
  return new WritableStream<TrainEvent>({
    async write({ record }) {
      pending.push(record);
      if (record.kind === "epoch" || record.kind === "end" || record.kind === "stopped") await flush();
    },
    close: flush,
    abort: flush,
  });
}

/**
 * A sink that keeps every record in `records` (for tests and in-process
 * reports).
 */
export function collectRecords(records: TrainRecord[]): WritableStream<TrainEvent> {
  return new WritableStream<TrainEvent>({
    write({ record }) {
      records.push(record);
    },
  });
}
