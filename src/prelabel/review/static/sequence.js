// prelabel review: the sequence task page. A timeline over the task's frames (slider, keys, play at a chosen fps,
// frames prefetched around the current one), boxes coloured per track, track-wide edits and in-browser
// interpolation (sequence_tracks.js). Text from the data is only ever set with textContent.
import {
  boxOf, deleteTrack, interpolateTracks, lerpBox, mergeTracks, newTrackId, setTrackClass, splitTrack, trackColour,
  trackIds, trackSpans, xyxy,
} from "./sequence_tracks.js";
import {
  contains, drawBox as paintBox, drawRubber as paintRubber, dragBox, endDrag, imageTransform, nearCorner, normalise,
  openTask, pageKey, panView, rubberBig, rubberBox, submitAnswer, toImage as toImageOf, toScreen as toScreenOf,
  wireCanvas, zoomView,
} from "./boxes2d.js";
import { pageData, statusSetter } from "./page.js";

const body = document.body;
const { base, taskId, csrf } = pageData();
const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d"), stage = $("stage");
const timeline = $("timeline"), tctx = timeline.getContext("2d");
const scrub = $("scrub"), catEl = $("category"), statusEl = $("status");
const AHEAD = 8, BEHIND = 2, KEEP = 40; // prefetch window and cache size (frames)

const S = {
  task: null, frames: [], cur: 0, track: null, history: [], edits: [], drag: null, picking: false,
  images: new Map(), loading: new Map(), playing: null, submitting: false,
  view: { scale: 1, fit: 1, zoom: 1, ox: 0, oy: 0, dpr: 1, cssW: 0, cssH: 0 }, leaveArmed: false,
};

const setStatus = statusSetter(statusEl);
const frame = () => S.frames[S.cur];
const round2 = (v) => Math.round(v * 100) / 100;

// ---- undo ------------------------------------------------------------------------------------------------------
const snapshot = () => JSON.stringify({ boxes: S.frames.map((f) => f.boxes), track: S.track, edits: S.edits.length });
function pushHistory() { S.history.push(snapshot()); if (S.history.length > 200) S.history.shift(); }
function undo() {
  const prev = S.history.pop();
  if (!prev) { setStatus("Nothing to undo"); return; }
  const st = JSON.parse(prev);
  S.frames.forEach((f, k) => { f.boxes = st.boxes[k]; });
  S.track = st.track; S.edits.length = st.edits;
  refresh(); setStatus("Undone");
}
function edit(op, fields) { S.edits.push({ op, ...fields }); }

// ---- images: fetched once, kept for the frames around the current one ---------------------------------------------
function load(k) {
  if (S.images.has(k)) return Promise.resolve(S.images.get(k));
  if (S.loading.has(k)) return S.loading.get(k);
  const p = fetch(S.frames[k].image, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`image ${r.status}`))))
    .then((b) => createImageBitmap(b))
    .then((img) => { S.images.set(k, img); return img; })
    .catch(() => { S.images.set(k, null); return null; })
    .finally(() => { S.loading.delete(k); if (k === S.cur) draw(); });
  S.loading.set(k, p);
  return p;
}
function prefetch() {
  for (let k = Math.max(0, S.cur - BEHIND); k <= Math.min(S.frames.length - 1, S.cur + AHEAD); k++) load(k);
  for (const k of [...S.images.keys()]) {
    if (Math.abs(k - S.cur) > KEEP / 2) { const img = S.images.get(k); if (img) img.close(); S.images.delete(k); }
  }
}

// ---- layout and drawing -------------------------------------------------------------------------------------------
function layout() {
  const v = S.view, f = frame();
  v.dpr = window.devicePixelRatio || 1;
  v.cssW = Math.max(100, stage.clientWidth); v.cssH = Math.max(100, stage.clientHeight);
  canvas.width = Math.round(v.cssW * v.dpr); canvas.height = Math.round(v.cssH * v.dpr);
  canvas.style.width = v.cssW + "px"; canvas.style.height = v.cssH + "px";
  v.fit = Math.min(v.cssW / f.width, v.cssH / f.height);
  setZoom(1);
  timeline.width = Math.round(timeline.clientWidth * v.dpr); timeline.height = Math.round(34 * v.dpr);
  draw();
}

const setZoom = (zoom, cx, cy) => zoomView(S.view, frame().width, frame().height, zoom, cx, cy);

function draw() {
  const v = S.view, f = frame();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#222"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  imageTransform(ctx, v);
  const img = S.images.get(S.cur);
  if (img) ctx.drawImage(img, 0, 0, f.width, f.height);
  const px = 1 / v.scale;
  ctx.font = `${12 * px}px system-ui, sans-serif`; ctx.textBaseline = "bottom";
  if (!img) {
    ctx.fillStyle = "#333"; ctx.fillRect(0, 0, f.width, f.height);
    ctx.fillStyle = "#aaa"; ctx.fillText(S.images.has(S.cur) ? "image not available" : "loading…", 8 * px, 24 * px);
  }
  const order = [...f.boxes].sort((a, b) => (a.track_id === S.track) - (b.track_id === S.track));
  for (const b of order) drawBox(b, b.track_id === S.track, px);
  drawTimeline();
}

function drawBox(b, sel, px) {
  const text = `${b.source === "human" ? "◆ " : ""}#${b.track_id} ${b.category}`;
  paintBox(ctx, b, { col: trackColour(b.track_id), text, selected: sel, dashed: b.source === "interpolated", handles: sel, px });
}

// the selected track over the frames: pre-label grey, keyframes orange, interpolated blue; the current frame white
function drawTimeline() {
  const W = timeline.width, H = timeline.height, n = S.frames.length, cw = W / n;
  tctx.fillStyle = "#2b3240"; tctx.fillRect(0, 0, W, H);
  if (S.track !== null) {
    trackSpans(S.frames, S.track).forEach((s, k) => {
      if (!s) return;
      tctx.fillStyle = s === "h" ? "#ff9f1c" : s === "i" ? "#4ea8de" : "#9aa4b5";
      const y = s === "h" ? 2 : H * 0.3;
      tctx.fillRect(k * cw, y, Math.max(1, cw - (cw > 3 ? 1 : 0)), H - y - 2);
    });
  }
  tctx.fillStyle = "#fff"; tctx.fillRect(S.cur * cw, 0, Math.max(2, cw), 3); tctx.fillRect(S.cur * cw, H - 3, Math.max(2, cw), 3);
}

// ---- the side panel ----------------------------------------------------------------------------------------------
function renderInfo() { // cheap: what changes with the frame
  const f = frame();
  $("frame-id").textContent = f.id;
  $("frame-no").textContent = `${S.cur + 1} / ${S.frames.length} · index ${f.index ?? "-"}`;
  scrub.value = String(S.cur);
  const info = $("track-info");
  if (S.track === null) { info.textContent = "No track selected"; return; }
  const spans = trackSpans(S.frames, S.track), any = S.frames.map((fr) => boxOf(fr, S.track)).find((b) => b);
  info.textContent = `Track #${S.track} · ${any ? any.category : "-"} · ${spans.filter(Boolean).length} frames, ` +
    `${spans.filter((s) => s === "h").length} keyframes, ${spans.filter((s) => s === "i").length} interpolated`;
  if (any) catEl.value = any.category;
}
function renderTracks() { // one pass over the boxes: each track's class and length
  const seen = new Map();
  for (const f of S.frames) {
    for (const b of f.boxes) {
      const t = seen.get(b.track_id);
      if (t) t.n += 1; else seen.set(b.track_id, { category: b.category, n: 1 });
    }
  }
  const frag = document.createDocumentFragment();
  for (const [tid, t] of seen) {
    const li = document.createElement("li"), sw = document.createElement("span");
    sw.className = "swatch"; sw.style.backgroundColor = trackColour(tid);
    li.append(sw, document.createTextNode(`#${tid} ${t.category} · ${t.n}`));
    li.dataset.track = tid;
    if (tid === S.track) li.className = "sel";
    li.addEventListener("click", () => selectTrack(tid, true));
    frag.appendChild(li);
  }
  $("tracks").replaceChildren(frag);
}
function refresh() { renderInfo(); renderTracks(); draw(); }

function seek(k) {
  S.cur = Math.min(Math.max(0, k), S.frames.length - 1);
  prefetch(); renderInfo(); draw();
}
function selectTrack(tid, jump) {
  S.track = tid;
  if (jump && tid !== null && !boxOf(frame(), tid)) {
    const k = S.frames.findIndex((f) => boxOf(f, tid));
    if (k >= 0) { seek(k); return; }
  }
  refresh();
}

// ---- playback ---------------------------------------------------------------------------------------------------
function play() {
  if (S.playing) { clearTimeout(S.playing); S.playing = null; $("play").textContent = "Play"; return; }
  if (S.cur >= S.frames.length - 1) seek(0);
  $("play").textContent = "Pause";
  const step = async () => {
    if (S.cur >= S.frames.length - 1) { S.playing = null; $("play").textContent = "Play"; return; }
    await load(S.cur + 1);
    if (!S.playing) return;
    seek(S.cur + 1);
    if (S.cur >= S.frames.length - 1) { S.playing = null; $("play").textContent = "Play"; return; }
    S.playing = setTimeout(step, 1000 / Number($("fps").value || 5));
  };
  S.playing = setTimeout(step, 1000 / Number($("fps").value || 5));
}

// ---- pointer: select, move, resize, draw, merge pick ---------------------------------------------------------------
const toImage = (ev) => toImageOf(canvas, S.view, ev);
const toScreen = (x, y) => toScreenOf(canvas, S.view, x, y);
function hitBox(p) {
  let best = null, area = Infinity;
  for (const b of frame().boxes) {
    if (contains(b, p)) {
      const a = (b.x2 - b.x1) * (b.y2 - b.y1);
      if (b.track_id === S.track) return b;
      if (a < area) { area = a; best = b; }
    }
  }
  return best;
}
function hitCorner(p) {
  const b = S.track !== null && boxOf(frame(), S.track);
  if (!b) return -1;
  return nearCorner(b, p, 7 / S.view.scale);
}
const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);

function onDown(ev) {
  if (!S.task) return;
  if (ev.button === 1 || ev.button === 2) { // pan
    canvas.setPointerCapture(ev.pointerId);
    S.drag = { mode: "pan", cx: ev.clientX, cy: ev.clientY, ox: S.view.ox, oy: S.view.oy };
    return;
  }
  if (ev.button !== 0) return;
  canvas.focus();
  const p = toImage(ev), f = frame();
  if (S.picking) {
    S.picking = false;
    const other = hitBox(p);
    if (!other || S.track === null) { setStatus("Merge cancelled"); return; }
    const from = other.track_id, snap = snapshot(), res = mergeTracks(S.frames, S.track, from);
    if (!res.ok) { setStatus(res.error, "error"); return; }
    S.history.push(snap); edit("merge", { track: S.track, from });
    setStatus(`Track ${from} merged into ${S.track} (${res.moved} boxes)`, "ok"); refresh(); return;
  }
  canvas.setPointerCapture(ev.pointerId);
  const k = hitCorner(p);
  if (k >= 0) { S.drag = { mode: "resize", k, box: boxOf(f, S.track), before: snapshot(), moved: false }; return; }
  const b = hitBox(p);
  if (b) {
    S.track = b.track_id;
    S.drag = { mode: "move", box: b, dx: p.x - b.x1, dy: p.y - b.y1, before: snapshot(), moved: false };
    refresh(); return;
  }
  S.drag = { mode: "draw", x0: clamp(p.x, f.width), y0: clamp(p.y, f.height), cur: null };
}
function onMove(ev) {
  const d = S.drag;
  if (!d) return;
  if (d.mode === "pan") { panView(S.view, d, ev); draw(); return; }
  const p = toImage(ev), f = frame();
  if (d.mode === "draw") { d.cur = { x: clamp(p.x, f.width), y: clamp(p.y, f.height) }; draw(); drawRubber(d); return; }
  if (!d.moved) { S.history.push(d.before); d.moved = true; }
  dragBox(d.box, d, p, f.width, f.height);
  draw();
}
function drawRubber(d) {
  imageTransform(ctx, S.view);
  paintRubber(ctx, d, 1 / S.view.scale);
}
function onUp(ev) {
  const d = endDrag(S, canvas, ev);
  if (!d) return;
  const f = frame();
  if (d.mode === "draw") {
    if (!rubberBig(d, S.view.scale)) {
      if (S.track !== null) { S.track = null; refresh(); }
      return;
    }
    pushHistory();
    const tid = newTrackId(S.frames, "new", f.index ?? S.cur), r = rubberBox(d);
    f.boxes.push({
      id: null, track_id: tid, category: catEl.value || S.task.job.categories[0], score: null, source: "human",
      x1: round2(r.x1), y1: round2(r.y1), x2: round2(r.x2), y2: round2(r.y2),
    });
    S.track = tid; edit("draw", { track: tid, frame: f.id });
    setStatus(`New track ${tid}`, "ok");
  } else if (d.moved) {
    const b = d.box;
    normalise(b);
    b.x1 = round2(b.x1); b.y1 = round2(b.y1); b.x2 = round2(b.x2); b.y2 = round2(b.y2);
    b.source = "human"; edit(d.mode, { track: b.track_id, frame: f.id });
    setStatus(`Keyframe: track ${b.track_id} ${d.mode === "move" ? "moved" : "resized"} on this frame`, "ok");
  }
  refresh();
}

// ---- track tools --------------------------------------------------------------------------------------------------
function needTrack() { if (S.track === null) setStatus("Select a box (its track) first", "error"); return S.track !== null; }
function apply(op, fields, fn, ok) {
  const snap = snapshot(), res = fn();
  if (!res.ok) { setStatus(res.error, "error"); return; }
  S.history.push(snap); edit(op, fields); setStatus(ok(res), "ok"); refresh();
}
function setClass(cat) {
  if (!needTrack()) return;
  apply("class", { track: S.track, to: cat }, () => setTrackClass(S.frames, S.track, cat),
    (r) => `Track ${S.track} is now ${cat} (${r.changed} boxes)`);
}
function keyframe() {
  const b = needTrack() && boxOf(frame(), S.track);
  if (!b) { if (S.track !== null) setStatus("The track has no box on this frame", "error"); return; }
  apply("keyframe", { track: S.track, frame: frame().id }, () => { b.source = "human"; return { ok: true }; },
    () => `Frame ${frame().id} is a keyframe of track ${S.track}`);
}
function interpolate() {
  const snap = snapshot(), res = interpolateTracks(S.frames, S.track);
  if (!res.ok) { setStatus(res.error, "error"); refresh(); return; }
  S.history.push(snap); edit("interpolate", { track: S.track ?? "*", boxes: res.filled });
  setStatus(`Interpolated ${res.filled} boxes on ${res.tracks} track${res.tracks > 1 ? "s" : ""}`, "ok"); refresh();
}
function split() {
  if (!needTrack()) return;
  const old = S.track;
  apply("split", { track: old, frame: frame().id }, () => {
    const r = splitTrack(S.frames, old, S.cur);
    if (r.ok) S.track = r.id;
    return r;
  }, (r) => `Track ${old} split: ${r.id} from this frame on`);
}
function merge() {
  if (!needTrack()) return;
  S.picking = true;
  setStatus(`Click a box of the track to merge into ${S.track}`);
}
function deleteBox() {
  const f = frame(), i = S.track === null ? -1 : f.boxes.findIndex((b) => b.track_id === S.track);
  if (i < 0) return;
  apply("delete-box", { track: S.track, frame: f.id }, () => { f.boxes.splice(i, 1); return { ok: true }; },
    () => `Box of track ${S.track} deleted on this frame`);
}
function deleteWhole() {
  if (!needTrack()) return;
  const tid = S.track;
  apply("delete-track", { track: tid }, () => deleteTrack(S.frames, tid), (r) => `Track ${tid} deleted (${r.deleted} boxes)`);
  S.track = null; refresh();
}

// ---- submit ------------------------------------------------------------------------------------------------------
function answer() {
  return {
    comment: $("comment").value || "",
    edits: S.edits,
    frames: S.frames.map((f) => ({
      frame: f.id,
      boxes: f.boxes.map((b) => ({ id: b.id, track_id: b.track_id, category: b.category, box: xyxy(b), source: b.source })),
    })),
  };
}
async function submit() {
  if (!S.task || S.submitting) return;
  await submitAnswer(S, base, taskId, csrf, answer, setStatus, nextTask);
}
function nextTask() {
  if (S.edits.length && !body.dataset.submitted && !S.leaveArmed) {
    S.leaveArmed = true;
    setStatus("Unsubmitted edits: submit first, or press again to leave them", "error");
    return;
  }
  const n = S.task && S.task.next_task;
  location.href = n ? `${base}/tasks/${n}` : `${base}/tasks`;
}

// ---- keys ----------------------------------------------------------------------------------------------------------
function onKey(ev) {
  if (!pageKey(ev, undo, true)) return;
  const k = ev.key;
  const keys = {
    ArrowLeft: () => seek(S.cur - 1), ArrowRight: () => seek(S.cur + 1), d: () => seek(S.cur - 1), f: () => seek(S.cur + 1),
    "0": () => { setZoom(1); draw(); }, Home: () => seek(0), End: () => seek(S.frames.length - 1), " ": play, k: keyframe, i: interpolate, s: split,
    m: merge, u: undo, n: nextTask, Enter: submit, Escape: () => { S.picking = false; selectTrack(null); },
    Delete: () => (ev.shiftKey ? deleteWhole() : deleteBox()), Backspace: () => (ev.shiftKey ? deleteWhole() : deleteBox()),
  };
  const fn = keys[k] || keys[k.toLowerCase()];
  if (fn) { ev.preventDefault(); fn(); return; }
  if (/^[1-9]$/.test(k)) { const c = S.task.job.categories[Number(k) - 1]; if (c) setClass(c); }
}

// ---- start -------------------------------------------------------------------------------------------------------
const start = () => openTask(base, taskId, setStatus, async (task) => {
  S.task = task;
  const prev = S.task.previous && S.task.previous.frames ? new Map(S.task.previous.frames.map((f) => [f.frame, f.boxes])) : null;
  S.frames = S.task.frames.map((f) => {
    const scores = new Map(f.labels.map((l) => [l.id, l.score]));
    const src = prev && prev.has(f.id) ? prev.get(f.id)
      : f.labels.map((l) => ({ id: l.id, track_id: l.track_id, category: l.category, box: l.box, source: "prelabel" }));
    return {
      id: f.id, index: f.index, width: f.width, height: f.height, image: f.image,
      boxes: src.map((b) => ({
        id: b.id, track_id: b.track_id, category: b.category, score: b.id ? scores.get(b.id) ?? null : null,
        source: b.source, x1: b.box[0], y1: b.box[1], x2: b.box[2], y2: b.box[3],
      })),
    };
  });
  if (S.task.previous && S.task.previous.comment) $("comment").value = S.task.previous.comment;
  $("seq-name").textContent = `${S.task.sequence.name} part ${S.task.sequence.part}/${S.task.sequence.parts}`;
  catEl.replaceChildren(...S.task.job.categories.map((c, i) => new Option(`${i + 1} ${c}`, c)));
  scrub.max = String(S.frames.length - 1);
  await load(0);
  prefetch(); layout(); refresh();
  setStatus(`${S.frames.length} frames · ${trackIds(S.frames).length} tracks · ` +
    (S.task.status === "submitted" ? "already submitted (you may resubmit)" : "pending"));
});

const zoomAt = (zoom, cx, cy) => { setZoom(zoom, cx, cy); draw(); };
wireCanvas(canvas, S.view, { down: onDown, move: onMove, up: onUp, zoomAt, ready: () => Boolean(S.task) });
document.addEventListener("keydown", onKey);
window.addEventListener("resize", () => { if (S.task) layout(); });
scrub.addEventListener("input", () => seek(Number(scrub.value)));
timeline.addEventListener("click", (ev) => {
  const r = timeline.getBoundingClientRect();
  seek(Math.floor(((ev.clientX - r.left) / r.width) * S.frames.length));
});
catEl.addEventListener("change", () => setClass(catEl.value));
const on = { prev: () => seek(S.cur - 1), "next-frame": () => seek(S.cur + 1), play, keyframe, interpolate, split,
  merge, delete: deleteBox, "delete-track": deleteWhole, undo, submit, next: nextTask };
for (const [id, fn] of Object.entries(on)) $(id).addEventListener("click", () => fn());

// a small read-only handle for tests and tools
window.prelabelSequence = {
  get frames() { return JSON.parse(JSON.stringify(S.frames.map(({ image, ...f }) => f))); },
  get cur() { return S.cur; },
  get track() { return S.track; },
  get edits() { return S.edits.map((e) => ({ ...e })); },
  get zoom() { return S.view.zoom; },
  cached: () => [...S.images.keys()].filter((k) => S.images.get(k)).sort((a, b) => a - b),
  toScreen, seek, lerp: lerpBox,
};
start();
