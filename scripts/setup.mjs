#!/usr/bin/env node
// Brings a fresh clone to a runnable state: npm dependencies, the Rust addon, the compiled
// TypeScript. Each step is skipped when its output is newer than its inputs, so a second run
// costs about a second. Uses only Node built-ins: it runs before node_modules exists.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const log = (msg) => process.stderr.write(`[setup] ${msg}\n`);

function run(cmd, args) {
  log(`${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
}

/** Newest mtime of the files under the given paths (recursing, skipping build output). */
function newest(paths) {
  let max = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) {
        if (name === "node_modules" || name === "target" || name === "generated" || name === "dist") continue;
        walk(join(p, name));
      }
    } else if (st.mtimeMs > max) max = st.mtimeMs;
  };
  for (const p of paths) walk(join(root, p));
  return max;
}

const mtime = (p) => (existsSync(join(root, p)) ? statSync(join(root, p)).mtimeMs : 0);

const major = Number(process.versions.node.split(".")[0]);
if (major < 20) {
  log(`Node.js ${process.versions.node} is too old: 20 or newer is needed`);
  process.exit(1);
}
for (const tool of ["cargo", "rustc"]) {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
  } catch {
    log(`${tool} not found: install Rust (https://rustup.rs) to build the native addon`);
    process.exit(1);
  }
}

if (mtime("node_modules/.package-lock.json") < mtime("package-lock.json")) {
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

const addon = "native/node/generated/binding.cjs";
if (mtime(addon) < newest(["native/core", "native/node", "Cargo.toml", "Cargo.lock"])) {
  run("npm", ["run", "--silent", "build:native"]);
}

const tsInputs = [
  "native/index.ts",
  "engine",
  "storage",
  "gateway",
  "sdk",
  "cli",
  "sim",
  "tsconfig.json",
  "tsconfig.build.json",
];
if (mtime("dist/.built") < newest(tsInputs)) {
  run("npm", ["run", "--silent", "build:ts"]);
  execFileSync("touch", [join(root, "dist/.built")]);
}
log("ready");
