/**
 * Bench dispatcher: `npm run bench -- <suite> [--quick]`. A suite is bench/suites/<suite>.ts
 * exporting `run` (see report.ts); its figures go to bench/results/<suite>.json and stdout.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Suite, writeReport } from "./report.js";

const SUITES_DIR = join(dirname(fileURLToPath(import.meta.url)), "suites");

function available(): string[] {
  return readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(argv: string[]): Promise<number> {
  const flags = argv.filter((a) => a.startsWith("--"));
  const names = argv.filter((a) => !a.startsWith("--"));
  const unknown = flags.filter((f) => f !== "--quick");
  if (names.length !== 1 || unknown.length > 0) {
    console.error(`usage: npm run bench -- <suite> [--quick]\nsuites: ${available().join(", ")}`);
    return 2;
  }
  const suite = names[0]!;
  const file = join(SUITES_DIR, `${suite}.ts`);
  if (!/^[a-z][a-z0-9-]*$/.test(suite) || !existsSync(file)) {
    console.error(`no bench suite "${suite}"; suites: ${available().join(", ")}`);
    return 2;
  }
  const mod = (await import(pathToFileURL(file).href)) as { run?: Suite };
  if (typeof mod.run !== "function") {
    console.error(`bench/suites/${suite}.ts does not export a run function`);
    return 2;
  }
  const quick = flags.includes("--quick");
  const started = performance.now();
  const result = await mod.run({ quick, log: (line) => console.error(`[${suite}] ${line}`) });
  const seconds = (performance.now() - started) / 1000;
  result.notes.push(`${quick ? "Quick run" : "Full run"} took ${seconds.toFixed(1)} s.`);
  writeReport(suite, result);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
