// Starts the real gateway for a test: `gateway demo` (the debug binary) on free ports, with its
// WeChat and provincial simulators — on SQLite and the in-process store, or, when
// APP_TEST_DATABASE_URL and APP_TEST_REDIS_URL are set (as for the Rust suite), on a fresh
// PostgreSQL database and a Redis key prefix of its own, both removed afterwards.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface Gateway {
  url: string;
  admin: string;
  sim: string;
  province: string;
  backend: "embedded" | "postgres+redis";
  /** Deletes the Redis keys of this gateway's sessions (a Redis flush, scoped to the run). */
  flushSessions(): void;
  stop(): Promise<void>;
}

const repo = resolve(import.meta.dirname, "../../../..");

function binary(): string {
  if (process.env.GATEWAY_BIN) return process.env.GATEWAY_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(repo, "target");
  const bin = join(target, "debug", "gateway");
  if (!existsSync(bin)) throw new Error(`no gateway binary at ${bin}: cargo build -p gateway first`);
  return bin;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

/** `extraArgs`: more `gateway demo` flags (`--session-requests 10 --session-window-secs 2`). */
export async function startGateway(extraArgs: readonly string[] = []): Promise<Gateway> {
  const [port, admin, sim, province] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const data = mkdtempSync(join(tmpdir(), "zsb-sdk-"));
  const args = [
    "demo",
    "--data-dir",
    data,
    "--port",
    String(port),
    "--admin-port",
    String(admin),
    "--wechat-sim-port",
    String(sim),
    "--province-sim-port",
    String(province),
    ...extraArgs,
  ];
  const pgUrl = process.env.APP_TEST_DATABASE_URL;
  const redisUrl = process.env.APP_TEST_REDIS_URL;
  const name = `sdk_${randomBytes(6).toString("hex")}`;
  let cleanup = () => {};
  let flushSessions = (): void => {
    throw new Error("no Redis: flushSessions needs APP_TEST_REDIS_URL");
  };
  if (pgUrl && redisUrl) {
    execFileSync("psql", [pgUrl, "-qc", `CREATE DATABASE ${name}`]);
    const url = new URL(pgUrl);
    url.pathname = `/${name}`;
    args.push("--database-url", url.toString(), "--redis-url", redisUrl, "--redis-key-prefix", `${name}:`);
    const redis = new URL(redisUrl);
    const cli = ["-h", redis.hostname, "-p", redis.port || "6379"];
    const deleteKeys = (pattern: string) => {
      const keys = execFileSync("redis-cli", [...cli, "--scan", "--pattern", pattern], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean);
      for (let i = 0; i < keys.length; i += 200) execFileSync("redis-cli", [...cli, "del", ...keys.slice(i, i + 200)]);
    };
    flushSessions = () => deleteKeys(`${name}:sess:*`);
    cleanup = () => {
      deleteKeys(`${name}:*`);
      execFileSync("psql", [pgUrl, "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    };
  }
  const log = join(data, "log");
  const child: ChildProcess = spawn(binary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const chunks: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => chunks.push(c));
  child.stderr?.on("data", (c: Buffer) => chunks.push(c));
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${admin}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() - started > 60_000) {
      child.kill("SIGKILL");
      cleanup();
      throw new Error(`gateway demo did not become ready:\n${Buffer.concat(chunks).toString()}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    admin: `http://127.0.0.1:${admin}`,
    sim: `http://127.0.0.1:${sim}`,
    province: `http://127.0.0.1:${province}`,
    backend: pgUrl && redisUrl ? "postgres+redis" : "embedded",
    flushSessions,
    stop: async () => {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
      cleanup();
      if (process.env.SDK_TEST_KEEP_LOGS) console.log(readFileSync(log, "utf8"));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

export async function simPost<T>(gateway: Gateway, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${gateway.sim}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
