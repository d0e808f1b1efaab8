// The latent map (and the decoder sliders) that decode in the browser. One generic path for every model
// family: Python hands over the Plotly figure it built, the URLs of the decoder (ONNX: inputs z [N, d] and,
// where the decoder takes one, class_code [N, K]; output image [N, 784] in [0, 1]) and of the codes and
// test images, and the sizes. Hovering decodes here, with no message to the server; a click (or a slider's
// release) sets the component's value, which reruns the page.
// The gl2d partial bundle (scatter, scattergl: all a map draws) is a third of the full one (1.6 MB against
// 4.9 MB): in a frame that is created for every page that shows a map, Plotly's start-up was most of its cost.
import Plotly from "./plotly.js";
import * as ort from "onnxruntime-web/wasm";
import wasmUrl from "onnxruntime-web/ort-wasm-simd-threaded.wasm?url";

const ENCODED = 0, PRIOR = 1, GRID = 2;  // explorer/figures.py: customdata [source, index, label]
const HIT_PX = 4;                        // how far past a marker's radius the pointer still hovers it
const CLICK_PX = 4;                      // a press and release this close is a click, not a drag

// What tests and benchmarks read: decode + draw times (ms) from the pointer event, bytes fetched, cache hits.
const stats = window.aaeStats = { times: [], fetched: [], cached: [], decodes: 0, ready: false, error: null };

const $ = (id) => document.getElementById(id);
const send = (type, data) => window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
const setHeight = () => send("streamlit:setFrameHeight", { height: document.body.scrollHeight + 4 });

// --- files: fetched once, then kept in IndexedDB (names are content hashes, so a name never goes stale) ----
function idb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("aae-explorer-files", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("files");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
const idbDo = (db, mode, fn) => new Promise((resolve, reject) => {
  const req = fn(db.transaction("files", mode).objectStore("files"));
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});
let dbPromise = null;

// Big files come gzipped (NAME.gz): Streamlit serves them as application/gzip, which its gzip middleware
// leaves alone, so the server compresses nothing per request (it gzipped the 14.8 MB wasm for every new
// browser: ~1.7 s of its event loop each); the frame inflates them here.
async function fetched(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
  if (!url.endsWith(".gz")) return resp.arrayBuffer();
  return new Response(resp.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
}

async function bytes(url, key) {
  key = key || url.split("/").pop().replace(/\.gz$/, "");
  let db = null;
  try {
    db = await (dbPromise = dbPromise || idb());
    const hit = await idbDo(db, "readonly", (s) => s.get(key));
    if (hit) { stats.cached.push(key); return hit; }
  } catch (e) { db = null; }  // no IndexedDB (private mode): the HTTP cache still helps
  const buf = await fetched(url);
  stats.fetched.push({ key, bytes: buf.byteLength });
  if (db) idbDo(db, "readwrite", (s) => s.put(buf, key)).catch(() => {});
  return buf;
}

// --- the decoder ---------------------------------------------------------------------------------------
let runtimeReady = null;
function runtime() {
  if (!runtimeReady) {
    runtimeReady = (async () => {
      // Streamlit pages are not cross-origin isolated: one thread, and the wasm binary handed over directly.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.wasmBinary = await bytes(new URL(wasmUrl, document.baseURI).href + ".gz");
    })();
  }
  return runtimeReady;
}

const decoders = new Map();  // url -> Promise<InferenceSession>
function decoder(url) {
  if (!decoders.has(url)) {
    decoders.set(url, runtime().then(async () =>
      ort.InferenceSession.create(new Uint8Array(await bytes(url)), { executionProviders: ["wasm"] })));
  }
  return decoders.get(url);
}

async function decode(session, z, d, y, k, n = 1) {
  const feeds = { z: new ort.Tensor("float32", z, [n, d]) };
  if (k) feeds.class_code = new ort.Tensor("float32", y, [n, k]);
  return (await session.run(feeds)).image.data;  // [n * 784]
}

function draw(canvas, pixels, isUint8) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    // as aae_core.explore.to_uint8: round(x * 255)
    const v = isUint8 ? pixels[i] : Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function oneHot(k, c) { const y = new Float32Array(k); y[c] = 1; return y; }

// Decodes one request at a time; while one runs, only the newest request waits (pointer moves coalesce).
function makeQueue(run) {
  let busy = false, next = null;
  const pump = async () => {
    if (busy || !next) return;
    busy = true;
    const job = next; next = null;
    try { if (await run(job) !== false) { stats.decodes++; stats.times.push(performance.now() - job.t0); } }
    catch (e) { stats.error = String(e); $("note").textContent = `Decoding in the browser failed: ${e}`; }
    busy = false;
    if (stats.times.length > 20000) stats.times.splice(0, 10000);
    pump();
  };
  return (job) => { next = job; pump(); };
}

// --- state of the current model ------------------------------------------------------------------------
let args = null, model = null, modelKey = null, modelLoad = null, cls = 0;

// The current model's decoder session and arrays (one load per set of files; callers share it).
function loadModel(a) {
  const f = a.files;
  const key = JSON.stringify(f);
  if (key === modelKey) return modelLoad;
  modelKey = key;
  modelLoad = (async () => {
    const [session, codes, prior, classCodes, images, priorLabels] = await Promise.all([
      decoder(f.decoder),
      f.codes ? bytes(f.codes).then((b) => new Float32Array(b)) : null,
      f.prior ? bytes(f.prior).then((b) => new Float32Array(b)) : null,
      f.class_codes ? bytes(f.class_codes).then((b) => new Float32Array(b)) : null,
      f.images ? bytes(f.images).then((b) => new Uint8Array(b)) : null,
      f.prior_labels ? bytes(f.prior_labels).then((b) => new Uint8Array(b)) : null,
    ]);
    model = { session, codes, prior, classCodes, images, priorLabels, d: a.latent_dim, k: a.n_classes };
    stats.ready = true;
    return model;
  })();
  return modelLoad;
}

function classButtons(a, onPick) {
  const box = $("classes");
  box.innerHTML = "";
  if (!a.n_classes) return;
  cls = Math.min(cls, a.n_classes - 1);
  const label = document.createElement("span");
  label.textContent = `${a.class_noun} code for prior samples and empty space: `;
  label.style.fontSize = "13px";
  box.appendChild(label);
  for (let c = 0; c < a.n_classes; c++) {
    const b = document.createElement("button");
    b.textContent = c;
    b.className = c === cls ? "on" : "";
    b.onclick = () => { cls = c; [...box.querySelectorAll("button")].forEach((e, i) => e.className = i === c ? "on" : ""); onPick(); };
    box.appendChild(b);
  }
}

// --- the map ----------------------------------------------------------------------------------------------
let figureJson = null, plot = null, pointer = null, lastTarget = null, clicks = 0, pressed = null;

const decodeMap = makeQueue(async (job) => {
  const m = await loadModel(args);
  if (!m) return false;
  const { d, k } = m;
  if (job.source === ENCODED) {
    const i = job.index;
    const y = k ? m.classCodes.subarray(i * k, (i + 1) * k) : null;
    const recon = await decode(m.session, m.codes.subarray(i * d, (i + 1) * d), d, y, k);
    if (m.images) draw($("canvas-a"), m.images.subarray(i * 784, (i + 1) * 784), true);
    draw($("canvas-b"), recon, false);
    $("fig-a").style.display = m.images ? "" : "none";
    $("cap-a").textContent = "original"; $("cap-b").textContent = "reconstruction";
    $("caption").textContent = `test image #${i}, label ${job.label}`;
  } else {
    const z = job.source === PRIOR ? m.prior.subarray(job.index * d, (job.index + 1) * d) : job.z;
    const c = job.source === PRIOR && m.priorLabels ? m.priorLabels[job.index] : cls;
    const out = await decode(m.session, z, d, k ? oneHot(k, c) : null, k);
    draw($("canvas-b"), out, false);
    $("fig-a").style.display = "none";
    $("cap-b").textContent = "decoded";
    const what = job.source === PRIOR ? `prior sample #${job.index}` : `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
    $("caption").textContent = what + (k ? `, ${args.class_noun} ${c}` : "");
  }
});

// The point under the pointer (our own hit test: Plotly's hover events are throttled to one per 50 ms).
function hit(gd, px, py) {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  let best = null, bestD = Infinity;
  for (const t of gd._fullData) {
    if (t.visible !== true || !t.customdata || !t.x || t.hoverinfo === "none") continue;
    const r = (t.marker && typeof t.marker.size === "number" ? t.marker.size / 2 : 3) + HIT_PX;
    const x = t.x, y = t.y, cd = t.customdata, n = x.length;
    for (let i = 0; i < n; i++) {
      const dx = xa.c2p(x[i]) - px, dy = ya.c2p(y[i]) - py;
      const dd = dx * dx + dy * dy;
      if (dd < bestD && dd <= r * r) { bestD = dd; best = cd[i]; }
    }
  }
  return best;
}

function onPointer(ev) {
  const t0 = performance.now();
  if (!plot || !model) return;
  const area = plot.querySelector(".nsewdrag");
  if (!area) return;
  const box = area.getBoundingClientRect();
  const px = ev.clientX - box.left, py = ev.clientY - box.top;
  if (px < 0 || py < 0 || px > box.width || py > box.height) return;
  pointer = { px, py };
  const found = hit(plot, px, py);
  let job = null;
  if (found && Number(found[0]) !== GRID) {
    job = { source: Number(found[0]), index: Number(found[1]), label: Number(found[2]), t0 };
    if (lastTarget && lastTarget.source === job.source && lastTarget.index === job.index) return;
  } else if (args.spot_decodes) {
    const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
    job = { source: GRID, z: new Float32Array([xa.p2d(px), ya.p2d(py)]), t0 };
  }
  if (!job) return;
  lastTarget = job;
  decodeMap(job);
}

function renderMap(a) {
  const fresh = !plot;
  if (fresh) {
    plot = $("plot");
    plot.addEventListener("mousemove", onPointer);
    // A click is a press and a release within a few pixels on the plot area (Plotly lays a cover over the page
    // while the button is down, so the release is heard on the window; a drag is Plotly's zoom and not a click).
    plot.addEventListener("mousedown", (ev) => { pressed = { x: ev.clientX, y: ev.clientY }; }, true);
    window.addEventListener("mouseup", (ev) => {
      const p = pressed;
      pressed = null;
      if (!p || Math.abs(ev.clientX - p.x) > CLICK_PX || Math.abs(ev.clientY - p.y) > CLICK_PX) return;
      const area = plot.querySelector(".nsewdrag"), box = area && area.getBoundingClientRect();
      if (!box) return;
      const px = ev.clientX - box.left, py = ev.clientY - box.top;
      if (px < 0 || py < 0 || px > box.width || py > box.height) return;
      const found = hit(plot, px, py) || (args.spot_decodes ? [GRID, 0, -1] : null);  // a 2-D map's empty spot
      if (!found) return;
      const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
      send("streamlit:setComponentValue", { dataType: "json", value: {
        point: { customdata: Array.from(found, Number), x: xa.p2d(px), y: ya.p2d(py) }, clicks: ++clicks } });
    }, true);
    $("caption").textContent = a.spot_decodes
      ? "Point at a dot or any spot of the map: what is under the pointer is decoded here, in your browser."
      : "Point at a dot: its image and its reconstruction (or a prior sample's decoding) show here.";
  }
  if (a.figure !== figureJson) {
    figureJson = a.figure;
    const fig = JSON.parse(a.figure);
    // Plotly's own hover is off: the strip above shows what is under the pointer, found by hit() on every move,
    // and Plotly's hover search and label cost a third of a hover's time in the browser (measured: 30 hovers,
    // 2.1 s of CPU with it, 1.35 s without). Clicks are found the same way (below).
    fig.layout.hovermode = false;
    const config = { responsive: true, ...a.config };
    Plotly.react(plot, fig.data, fig.layout, config).then(setHeight);
  }
  classButtons(a, () => { if (lastTarget && lastTarget.source !== ENCODED) decodeMap({ ...lastTarget, t0: performance.now() }); });
  $("sliders").style.display = "none";
}

// --- sliders: the decoder sliders (one image), a style across every class (K images), a walk from A to B ----
let sliderKey = null;

function canvases(n) {
  const row = $("row");
  while (row.children.length > n) row.lastChild.remove();
  while (row.children.length < n) {
    const c = document.createElement("canvas");
    c.width = c.height = 28;
    row.appendChild(c);
  }
  return [...row.children];
}

const decodeSliders = makeQueue(async (job) => {
  const m = await loadModel(args);
  if (!m) return false;
  const { d, k } = m;
  if (job.sweep) {  // the style z with every class code 0..K-1, one batch
    const z = new Float32Array(k * d), y = new Float32Array(k * k);
    for (let c = 0; c < k; c++) { z.set(job.z, c * d); y[c * k + c] = 1; }
    const out = await decode(m.session, z, d, y, k, k);
    canvases(k).forEach((cv, c) => draw(cv, out.subarray(c * 784, (c + 1) * 784), false));
    return true;
  }
  const out = await decode(m.session, job.z, d, k ? (job.y || oneHot(k, job.c)) : null, k);
  draw($("canvas-b"), out, false);
  $("cap-b").textContent = m.k && job.y == null ? `decoded (${args.class_noun} ${job.c})` : "decoded";
  return true;
});

function sliderRow(label, min, max, value, onInput, onChange) {
  const row = document.createElement("label");
  row.className = "slider-row";
  const range = document.createElement("input");
  Object.assign(range, { type: "range", min, max, step: (max - min) / 200, value });
  const shown = document.createElement("span");
  shown.textContent = Number(value).toFixed(2);
  range.addEventListener("input", () => {
    const t0 = performance.now();
    shown.textContent = Number(range.value).toFixed(2);
    onInput(Number(range.value), t0);
  });
  if (onChange) range.addEventListener("change", onChange);
  row.append(label, range, shown);
  $("sliders").appendChild(row);
}

function renderSliders(a) {
  $("fig-a").style.display = "none";
  $("plot").style.display = "none";
  const key = JSON.stringify(a);
  if (key === sliderKey) return;
  sliderKey = key;
  $("sliders").innerHTML = "";
  if (a.mode === "line") {  // z(t) = (1 - t) A + t B, and the class code the same way where both ends have one
    const d = a.latent_dim, k = a.n_classes;
    const za = Float32Array.from(a.z_a), zb = Float32Array.from(a.z_b);
    const ya = a.y_a && Float32Array.from(a.y_a), yb = a.y_b && Float32Array.from(a.y_b);
    const at = (t, t0) => {
      const z = new Float32Array(d), y = k ? new Float32Array(k) : null;
      for (let i = 0; i < d; i++) z[i] = (1 - t) * za[i] + t * zb[i];
      for (let i = 0; i < k; i++) y[i] = (1 - t) * ya[i] + t * yb[i];
      $("caption").textContent = `t = ${t.toFixed(2)}`;
      return { z, y, t0 };
    };
    sliderRow("t", 0, 1, 0.5, (t, t0) => decodeSliders(at(t, t0)));
    decodeSliders(at(0.5, performance.now()));
    setHeight();
    return;
  }
  const z = Float32Array.from(a.z);
  const sweep = a.mode === "sweep";
  $("fig-b").style.display = sweep ? "none" : "";
  cls = a.class_code == null ? 0 : a.class_code;
  const current = (t0) => ({ z: Float32Array.from(z), c: cls, t0, sweep });
  const report = () => send("streamlit:setComponentValue", { dataType: "json",
    value: { z: Array.from(z), class_code: a.n_classes ? cls : null, moves: ++clicks } });
  for (let i = 0; i < a.n_sliders; i++) {
    sliderRow(`z${i + 1}`, a.lo[i], a.hi[i], z[i], (v, t0) => { z[i] = v; decodeSliders(current(t0)); }, report);
  }
  if (!sweep) classButtons(a, () => { decodeSliders(current(performance.now())); report(); });
  decodeSliders(current(performance.now()));
  setHeight();
}

// --- Streamlit's component protocol (v1) ---------------------------------------------------------------------
window.addEventListener("message", (event) => {
  if (event.data.type !== "streamlit:render") return;
  args = event.data.args;
  if (typeof WebAssembly !== "object") {
    $("note").textContent = "This browser cannot run WebAssembly: click a point to decode it on the server.";
  } else {
    loadModel(args).catch((e) => { stats.error = String(e); $("note").textContent = `The decoder could not be loaded: ${e}`; });
  }
  document.body.classList.toggle("map", !args.mode);   // index.html: the strip over a map keeps its height
  if (args.mode) renderSliders(args); else renderMap(args);
  setHeight();
});
window.addEventListener("resize", setHeight);
send("streamlit:componentReady", { apiVersion: 1 });
