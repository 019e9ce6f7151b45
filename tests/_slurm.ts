/**
 * A real single-node Slurm cluster for the tests, brought up in a temporary
 * folder: `munged` with its own key and socket, `slurmctld` and `slurmd` on
 * free localhost ports, configured by a minimal `slurm.conf` that needs no
 * cgroups (process tracking `proctrack/linuxproc`, `task/none`) and no
 * accounting. Every daemon runs in the foreground as a child of the test
 * process, so {@link SlurmCluster.stop} (and, failing that, the process's
 * `unload`) can always stop it; nothing outside the folder is touched.
 *
 * ```ts ignore
 * const cluster = await startSlurm();
 * if (typeof cluster === "string") console.log(`skipped: ${cluster}`);
 * else try {
 *   const id = await cluster.sbatch(["job.sh"]);
 *   await cluster.waitFor([id]);
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 *
 * Accounting is off (no slurmdbd), so `sacct` has nothing to say: wait with
 * `squeue` and read what the jobs wrote.
 *
 * @module
 */

/** Binaries the cluster needs. */
const BINARIES = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel"];

/** How long the node may take to turn `idle`. */
const READY_TIMEOUT_MS = 30_000;

/** A daemon started by the harness. */
interface Daemon {
  name: string;
  child: Deno.ChildProcess;
  /** The end of what it printed (stdout and stderr), for error messages. */
  output: () => string;
}

/** What a client command printed. */
export interface ClientResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** A running single-node cluster. */
export interface SlurmCluster {
  /** Its temporary folder (configuration, state, logs). */
  dir: string;
  /** The node's name (`hostname -s`). */
  node: string;
  /** CPUs the node offers. */
  cpus: number;
  /** Environment for client commands: `SLURM_CONF` pointing at this cluster. */
  env: Record<string, string>;
  /** Runs a Slurm client command (`sbatch`, `squeue`, …) against this cluster. */
  client(command: string, args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<
    ClientResult
  >;
  /** `sbatch --parsable ARGS`; returns the job id, throws with sbatch's message on failure. */
  sbatch(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<string>;
  /** Polls `squeue` until none of `jobIds` (array jobs included) is queued or running. */
  waitFor(jobIds: string[], options?: { timeoutMs?: number; pollMs?: number }): Promise<void>;
  /** The daemons' logs and output, for a failing test's message. */
  logs(): Promise<string>;
  /** Cancels every job, stops every daemon and removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin"])) {
    try {
      const path = `${dir}/${name}`;
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Keeps the last `limit` characters a stream printed. */
function tail(stream: ReadableStream<Uint8Array>, limit = 8000): () => string {
  let text = "";
  (async () => {
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        text = (text + chunk).slice(-limit);
      }
    } catch { /* the process is gone */ }
  })();
  return () => text;
}

function spawn(name: string, path: string, args: string[], env: Record<string, string>): Daemon {
  const child = new Deno.Command(path, { args, env, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const out = tail(child.stdout), err = tail(child.stderr);
  return { name, child, output: () => `${out()}${err()}` };
}

async function isRunning(d: Daemon, withinMs: number): Promise<boolean> {
  const status = await Promise.race([d.child.status, new Promise<null>((r) => setTimeout(() => r(null), withinMs))]);
  return status === null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Why a cluster cannot be brought up here without trying (binaries
 * missing, no permission to run them), or undefined.
 */
export async function slurmSkipReason(): Promise<string | undefined> {
  const run = (await Deno.permissions.query({ name: "run" })).state === "granted";
  const net = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
  if (!run || !net) return "it needs --allow-run and --allow-net=127.0.0.1";
  const missing = BINARIES.filter((b) => which(b) === undefined);
  if (missing.length > 0) return `${missing.join(", ")} not installed (apt-get install -y slurm-wlm munge)`;
  return undefined;
}

/**
 * Brings up munged, slurmctld and slurmd in a new temporary folder and
 * waits until the node is `idle`. Returns the cluster, or a reason why it
 * could not start (a line naming the daemon and what it said); whatever it
 * started is stopped again in that case.
 */
export async function startSlurm(): Promise<SlurmCluster | string> {
  const skip = await slurmSkipReason();
  if (skip !== undefined) return skip;
  const text = async (cmd: string, args: string[]) =>
    new TextDecoder().decode((await new Deno.Command(cmd, { args, stdin: "null" }).output()).stdout).trim();
  const user = await text("id", ["-un"]);
  // slurmd finds its node by the short host name (`hostname -s`), as Slurm's own tools do.
  const node = await text("hostname", ["-s"]);
  if (user === "" || node === "") return "cannot tell the user (id -un) or the host name (hostname -s)";
  const dir = await Deno.makeTempDir({ prefix: "gradstream-slurm-" });
  // munged wants every folder above its socket searchable by all.
  await Deno.chmod(dir, 0o755);
  for (const sub of ["munge", "spool", "state", "log"]) await Deno.mkdir(`${dir}/${sub}`, { mode: 0o755 });
  const key = crypto.getRandomValues(new Uint8Array(1024));
  await Deno.writeFile(`${dir}/munge/munge.key`, key, { mode: 0o600 });
  const cpus = Math.max(1, navigator.hardwareConcurrency || 1);
  const ctldPort = freePort();
  let slurmdPort = freePort();
  while (slurmdPort === ctldPort) slurmdPort = freePort();
  const socket = `${dir}/munge/munge.socket`;
  const conf = `${dir}/slurm.conf`;
  await Deno.writeTextFile(
    conf,
    [
      "ClusterName=gradstream-test",
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      "AuthType=auth/munge",
      `AuthInfo=socket=${socket}`,
      "CredType=cred/munge",
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "SchedulerType=sched/backfill",
      // Start batch jobs as soon as they are submitted or a slot frees (the defaults wait up to 3 s).
      "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      "ReturnToService=2",
      "MpiDefault=none",
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      "",
    ].join("\n"),
  );
  const env: Record<string, string> = { SLURM_CONF: conf };
  const daemons: Daemon[] = [];
  let stopped = false;

  const client = async (
    command: string,
    args: string[],
    options: { cwd?: string; env?: Record<string, string> } = {},
  ): Promise<ClientResult> => {
    const out = await new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: { ...env, ...options.env },
      stdin: "null",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  };

  const logs = async () => {
    const parts: string[] = [];
    for (const d of daemons) parts.push(`--- ${d.name} output\n${d.output().trim()}`);
    for (const f of ["slurmctld.log", "slurmd.log"]) {
      const text = await Deno.readTextFile(`${dir}/log/${f}`).catch(() => "(none)");
      parts.push(`--- ${f} (end)\n${text.split("\n").slice(-30).join("\n")}`);
    }
    return parts.join("\n");
  };

  const killAll = () => {
    for (const d of daemons) {
      try {
        d.child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
  };
  // The last resort: a test process that ends without calling stop() still takes its daemons along.
  const onUnload = () => killAll();
  globalThis.addEventListener("unload", onUnload);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (daemons.length === 3) {
        // Cancel what is left so that no job step outlives its slurmd.
        await client("scancel", [`--user=${user}`]).catch(() => {});
        for (let t = 0; t < 50; t++) {
          const q = await client("squeue", ["-h", "-o", "%i"]).catch(() => undefined);
          if (q === undefined || q.code !== 0 || q.stdout.trim() === "") break;
          await sleep(200);
        }
      }
    } finally {
      // slurmd first (it runs the jobs), then the controller, then munge that both talk to.
      for (const d of [...daemons].reverse()) {
        try {
          d.child.kill("SIGTERM");
        } catch { /* already gone */ }
        if (await isRunning(d, 5000)) {
          try {
            d.child.kill("SIGKILL");
          } catch { /* already gone */ }
        }
        await d.child.status;
      }
      globalThis.removeEventListener("unload", onUnload);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };

  const fail = async (why: string) => {
    const detail = await logs();
    await stop();
    const last = detail.split("\n").filter((l) => /error|fatal|denied|refused|cannot|failed/i.test(l)).slice(-1)[0];
    return `${why}${last ? `: ${last.trim().slice(0, 200)}` : ""}`;
  };

  daemons.push(spawn("munged", which("munged")!, [
    "--foreground",
    "--force",
    `--socket=${socket}`,
    `--key-file=${dir}/munge/munge.key`,
    `--pid-file=${dir}/munge/munged.pid`,
    `--log-file=${dir}/log/munged.log`,
    `--seed-file=${dir}/munge/munged.seed`,
  ], env));
  for (let t = 0; t < 50; t++) {
    if (await Deno.stat(socket).then(() => true, () => false)) break;
    if (!(await isRunning(daemons[0], 100))) return await fail("munged did not start");
  }
  daemons.push(spawn("slurmctld", which("slurmctld")!, ["-D", "-c"], env));
  daemons.push(spawn("slurmd", which("slurmd")!, ["-D"], env));
  const t0 = performance.now();
  let state = "";
  while (performance.now() - t0 < READY_TIMEOUT_MS) {
    for (const d of daemons) if (!(await isRunning(d, 0))) return await fail(`${d.name} exited at start`);
    const info = await client("sinfo", ["-h", "-o", "%t"]);
    state = info.stdout.trim();
    if (info.code === 0 && state === "idle") {
      return { dir, node, cpus, env, client, sbatch, waitFor, logs, stop };
    }
    await sleep(250);
  }
  return await fail(`the node did not turn idle within ${READY_TIMEOUT_MS / 1000} s (state ${state || "unknown"})`);

  async function sbatch(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
    const r = await client("sbatch", ["--parsable", ...args], options);
    if (r.code !== 0) throw new Error(`sbatch ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout.trim().split(";")[0];
  }

  async function waitFor(jobIds: string[], options: { timeoutMs?: number; pollMs?: number } = {}) {
    const timeoutMs = options.timeoutMs ?? 120_000;
    const start = performance.now();
    while (true) {
      const q = await client("squeue", ["-h", "-o", "%i %T", "-j", jobIds.join(",")]);
      // squeue -j fails for ids the controller has already forgotten: those jobs are done too.
      const forgotten = q.code !== 0 && /invalid job id/i.test(q.stderr);
      const left = q.code === 0 ? q.stdout.trim() : forgotten ? "" : `squeue failed: ${q.stderr.trim()}`;
      if (left === "") return;
      if (performance.now() - start > timeoutMs) {
        throw new Error(
          `jobs ${jobIds.join(", ")} still queued after ${timeoutMs / 1000} s:\n${left}\n${await logs()}`,
        );
      }
      await sleep(options.pollMs ?? 200);
    }
  }
}
