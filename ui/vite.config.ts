// Vite build of Sightline's UI. `npm run dev` serves ui/ with hot reload and proxies
// the API to a running server (SIGHTLINE_URL, default http://127.0.0.1:7464).
// `npm run build` writes dist/ with a Brotli and a gzip copy of each compressible
// file, which the server sends as-is (src/ui/mod.rs).
import { defineConfig, type Plugin } from "vite";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const COMPRESSIBLE = /\.(js|css|html|svg|json|txt)$/;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Writes file.br and file.gz beside each compressible output file. */
function precompress(outDir: string): Plugin {
  return {
    name: "sightline-precompress",
    apply: "build",
    closeBundle() {
      for (const file of filesUnder(outDir).filter((f) => COMPRESSIBLE.test(f))) {
        const data = readFileSync(file);
        writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
        writeFileSync(
          `${file}.br`,
          brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

const server = process.env.SIGHTLINE_URL ?? "http://127.0.0.1:7464";

export default defineConfig({
  plugins: [precompress("dist")],
  build: { outDir: "dist", emptyOutDir: true, target: "es2020", sourcemap: false },
  server: {
    proxy: { "/api": server, "/-": server, "/metrics": server },
  },
});
