// The component is built into ../build (committed: a fresh machine needs no Node). Relative base: Streamlit
// serves the folder at /component/<name>/. The one onnxruntime wasm file (SIMD, run single-threaded) is
// emitted once into assets/ under its content hash.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: {
    outDir: "../build",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 6000,
  },
});
