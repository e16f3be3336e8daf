// js-tiktoken's GPT-2 encode throughput on one text, for tools/bench-bpe.sh.
//
//   NODE_PATH=/tmp/bpe-node/node_modules node bench-tiktoken.mjs TEXT [REPEATS]
//
// Prints "encode X MB/s (N bytes -> M ids, best of R)" like tools/bench-bpe.c:
// one encode call per run over the whole text, after one warm-up run.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { getEncoding } = require(require.resolve("js-tiktoken",
    { paths: (process.env.NODE_PATH || "").split(":").filter(Boolean) }));

const [path, repsArg] = process.argv.slice(2);
const reps = Number(repsArg || 3);
const text = readFileSync(path, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
const enc = getEncoding("gpt2");
let n = enc.encode(text, "all").length;
let best = Infinity;
for (let r = 0; r < reps; r++) {
	const t0 = process.hrtime.bigint();
	n = enc.encode(text, "all").length;
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	if (s < best)
		best = s;
}
console.log(`encode ${(bytes / best / 1e6).toFixed(2)} MB/s (${bytes} bytes ` +
    `-> ${n} ids, best of ${reps}: ${best.toFixed(3)} s)`);
