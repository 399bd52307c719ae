// The SDK's figures: the runtime's size (esbuild, minified, gzipped; target ≤ 25 KB) and the
// requests the README's journey takes through it against the real gateway, counted at the
// transport, beside the fewest the API allows. Needs `npm run build:test` first (npm run bench
// does it) and the debug gateway binary.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const result = await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2018",
  write: false,
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`sdk size: ${kb(code.length)} minified, ${kb(gzipped)} gzipped (target ≤ 25 KB)`);
if (gzipped > 25 * 1024) {
  console.error("the SDK's runtime is over its 25 KB budget");
  process.exitCode = 1;
}

if (!process.argv.includes("--size-only")) {
  const { startGateway } = await import("../build/test/gateway.js");
  const { citizen, journey } = await import("../build/test/journey.js");
  const gateway = await startGateway();
  try {
    const result = await journey(gateway, citizen(gateway));
    console.log(
      `README journey: ${result.requests} requests through the SDK, minimum ${result.minimum} ` +
        `(plus ${result.polls} polls of the application's progress), on ${gateway.backend}`,
    );
    if (result.requests > result.minimum) process.exitCode = 1;
  } finally {
    await gateway.stop();
  }
}
