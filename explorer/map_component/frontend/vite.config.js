// The component is built into ../build (committed: a fresh machine needs no Node). Relative base: Streamlit
// serves the folder at /component/<name>/. The one onnxruntime wasm file (SIMD, run single-threaded) is
// emitted once into assets/ under its content hash.
//
// Streamlit serves component files with "Cache-Control: public" and no validator, so a browser fetches them
// again for every page that shows a map, and the server gzipped the bundle each time (4.9 MB then, 1.6 MB now). So index.html loads the
// bundle through a small loader that keeps it in IndexedDB under its content-hashed name (as main.js keeps the
// wasm and the model files); asset URLs are resolved against the page, not the module (a blob: URL).
// The bundle and the wasm file are then replaced by NAME.gz (gzip -9, once, here): Streamlit serves .gz files as
// application/gzip, which its gzip middleware skips, instead of compressing 19.7 MB for every new browser.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { defineConfig } from "vite";

const LOADER = (src) => `<script type="module">
const src = ${JSON.stringify(src)};
const open = () => new Promise((ok, no) => { const r = indexedDB.open("aae-explorer-files", 1);
  r.onupgradeneeded = () => r.result.createObjectStore("files"); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
const call = (db, mode, fn) => new Promise((ok, no) => { const r = fn(db.transaction("files", mode).objectStore("files"));
  r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
let db = null, text = null;
try { db = await open(); text = await call(db, "readonly", (s) => s.get(src)); } catch (e) { db = null; }
if (text) { window.aaeBundleCached = true; }
else {
  const resp = await fetch(src + ".gz");
  text = await new Response(resp.body.pipeThrough(new DecompressionStream("gzip"))).text();
  if (db) call(db, "readwrite", (s) => s.put(text, src)).catch(() => {});
}
await import(URL.createObjectURL(new Blob([text], { type: "text/javascript" })));
</script>`;

export default defineConfig({
  base: "./",
  build: {
    outDir: "../build",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 6000,
  },
  experimental: {
    renderBuiltUrl: (filename, { hostType }) => (hostType === "js"
      ? { runtime: `new URL(${JSON.stringify(filename)}, document.baseURI).href` } : { relative: true }),
  },
  plugins: [{
    // Plotly's registry names maplibre's CSS for map traces, which this bundle does not register.
    name: "no-maplibre-css",
    enforce: "pre",
    resolveId: (id) => (id === "maplibre-gl/dist/maplibre-gl.css" ? "\0empty-css" : null),
    load: (id) => (id === "\0empty-css" ? "export default {};" : null),
  }, {
    name: "gzip-big-assets",
    apply: "build",
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/^assets\/.*\.(js|wasm)$/.test(name)) continue;
        const file = join(options.dir, name);
        writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
        unlinkSync(file);
      }
    },
  }, {
    name: "bundle-from-indexeddb",
    enforce: "post",
    transformIndexHtml: {
      order: "post",
      handler: (html) => html.replace(/<script type="module" crossorigin src="\.\/(assets\/[^"]+\.js)"><\/script>/,
        (_, src) => LOADER(src)),
    },
  }],
});
