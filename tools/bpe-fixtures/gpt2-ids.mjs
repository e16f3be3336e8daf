// Expected GPT-2 token ids from an independent implementation (js-tiktoken,
// the GPT-2 ranks it ships), for lmsh's parity tests.
//
//   npm install --prefix /tmp/bpe-node js-tiktoken
//   NODE_PATH=/tmp/bpe-node/node_modules node tools/bpe-fixtures/gpt2-ids.mjs \
//       OUT_DIR TEXT...
//
// For each TEXT it writes OUT_DIR/<basename>.gpt2-ids: the ids separated by
// spaces on one line.  "<|endoftext|>" is allowed (encoded as id 50256).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const require = createRequire(import.meta.url);
const { getEncoding } = require(require.resolve("js-tiktoken",
    { paths: (process.env.NODE_PATH || "").split(":").filter(Boolean) }));

const [outDir, ...texts] = process.argv.slice(2);
if (!outDir || texts.length === 0) {
	console.error("usage: gpt2-ids.mjs OUT_DIR TEXT...");
	process.exit(2);
}
const enc = getEncoding("gpt2");
for (const path of texts) {
	const text = readFileSync(path, "utf8");
	const ids = enc.encode(text, "all");
	writeFileSync(join(outDir, basename(path) + ".gpt2-ids"),
	    ids.join(" ") + "\n");
	console.log(`${basename(path)}: ${ids.length} ids`);
}
