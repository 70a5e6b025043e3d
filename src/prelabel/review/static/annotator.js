// prelabel review: the worker view. Vanilla JS, no build step.
// One canvas: the frame (scaled once into an offscreen canvas per layout) and the boxes on top, redrawn on
// requestAnimationFrame only when something changed. Coordinates kept in image pixels (xyxy).
import {
  contains, drawBox as paintBox, drawRubber, dragBox, endDrag, imageTransform, nearCorner, normalise, openTask,
  pageKey, panView, rubberBig, rubberBox, submitAnswer, toImage as toImageOf, toScreen as toScreenOf, wireCanvas,
  zoomView,
} from "./boxes2d.js";
import { classColour, pageData, statusSetter } from "./page.js";

(() => {
  const { base, taskId, jobType, csrf } = pageData();
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const stage = document.getElementById("stage");
  const statusEl = document.getElementById("status");
  const listEl = document.getElementById("boxes");
  const catEl = document.getElementById("category");
  const commentEl = document.getElementById("comment");
  const labelCommentEl = document.getElementById("label-comment");

  const S = {
    task: null, img: null, bg: null, boxes: [], sel: -1, history: [], drag: null, dirty: true, pending: false,
    view: { scale: 1, fit: 1, zoom: 1, ox: 0, oy: 0, dpr: 1, cssW: 0, cssH: 0 }, submitting: false, bgStale: true,
    space: false,
    drawStats: { frames: 0, ms: 0, maxMs: 0 },
  };

  const setStatus = statusSetter(statusEl);
  const colour = (cat) => classColour(S.task.job.categories, cat);
  const clampX = (x) => Math.min(Math.max(x, 0), S.task.frame.width);
  const clampY = (y) => Math.min(Math.max(y, 0), S.task.frame.height);

  // ---- history (undo) ------------------------------------------------------------------------------------------
  const snapshot = () => JSON.stringify({ boxes: S.boxes, sel: S.sel });
  const pushHistory = () => { S.history.push(snapshot()); if (S.history.length > 300) S.history.shift(); };
  function undo() {
    const prev = S.history.pop();
    if (!prev) { setStatus("Nothing to undo"); return; }
    const st = JSON.parse(prev);
    S.boxes = st.boxes; S.sel = st.sel; changed(true);
    setStatus("Undone");
  }

  // ---- layout and drawing --------------------------------------------------------------------------------------
  function layout() {
    if (!S.img) return;
    const v = S.view;
    v.dpr = window.devicePixelRatio || 1;
    v.cssW = Math.max(100, stage.clientWidth);
    v.cssH = Math.max(100, stage.clientHeight);
    v.fit = Math.min(v.cssW / S.task.frame.width, v.cssH / S.task.frame.height);
    canvas.width = Math.round(v.cssW * v.dpr);
    canvas.height = Math.round(v.cssH * v.dpr);
    canvas.style.width = v.cssW + "px";
    canvas.style.height = v.cssH + "px";
    S.bg = document.createElement("canvas");
    S.bg.width = canvas.width; S.bg.height = canvas.height;
    setZoom(1);
  }

  // zoom 1 fits the frame; above 1 the point under (cx, cy) (CSS px in the canvas) stays where it is
  function setZoom(zoom, cx, cy) {
    zoomView(S.view, S.task.frame.width, S.task.frame.height, zoom, cx, cy);
    S.bgStale = true;
    requestDraw();
  }

  // the frame drawn once per view into an offscreen canvas: each redraw then copies pixels 1:1
  function renderBg() {
    const v = S.view, b = S.bg.getContext("2d");
    b.setTransform(1, 0, 0, 1, 0, 0);
    b.imageSmoothingQuality = "high";
    b.fillStyle = "#222"; b.fillRect(0, 0, S.bg.width, S.bg.height);
    b.drawImage(S.img, v.ox * v.dpr, v.oy * v.dpr, S.task.frame.width * v.scale * v.dpr,
      S.task.frame.height * v.scale * v.dpr);
    S.bgStale = false;
  }

  function requestDraw() {
    S.dirty = true;
    if (S.pending) return;
    S.pending = true;
    requestAnimationFrame(() => { S.pending = false; if (S.dirty) draw(); });
  }

  function draw() {
    const t0 = performance.now();
    S.dirty = false;
    const v = S.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (S.bg && S.bgStale) renderBg();
    if (S.bg) ctx.drawImage(S.bg, 0, 0); else ctx.clearRect(0, 0, canvas.width, canvas.height);
    imageTransform(ctx, v);
    const px = 1 / v.scale; // one CSS pixel in image units
    ctx.font = `${12 * px}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    for (let i = 0; i < S.boxes.length; i++) if (i !== S.sel) drawBox(S.boxes[i], false, px);
    if (S.sel >= 0 && S.boxes[S.sel]) drawBox(S.boxes[S.sel], true, px);
    if (S.drag && S.drag.mode === "draw" && S.drag.cur) drawRubber(ctx, S.drag, px);
    const dt = performance.now() - t0;
    S.drawStats.frames += 1;
    S.drawStats.ms += dt;
    S.drawStats.maxMs = Math.max(S.drawStats.maxMs, dt);
  }

  function drawBox(b, selected, px) {
    let col = colour(b.category);
    if (jobType === "verify") col = b.verdict === "good" ? "#2ecc71" : b.verdict === "bad" ? "#e74c3c" : "#f1c40f";
    const text = b.category + (b.score != null ? " " + b.score.toFixed(2) : "") + (b.verdict ? " · " + b.verdict : "");
    paintBox(ctx, b, { col, text, selected, handles: selected && jobType === "adjust", px });
  }

  // ---- geometry helpers ----------------------------------------------------------------------------------------
  const toImage = (ev) => toImageOf(canvas, S.view, ev);
  const toScreen = (x, y) => toScreenOf(canvas, S.view, x, y);
  function hitCorner(p) {
    const tol = 7 / S.view.scale;
    const order = S.sel >= 0 ? [S.sel, ...S.boxes.keys()] : [...S.boxes.keys()];
    for (const i of order) {
      const k = nearCorner(S.boxes[i], p, tol);
      if (k >= 0) return { i, k };
    }
    return null;
  }
  function hitBox(p) { // the selected box if the point is inside it, else the smallest box under the point
    const s = S.boxes[S.sel];
    if (s && contains(s, p)) return S.sel;
    let best = -1, area = Infinity;
    S.boxes.forEach((b, i) => {
      if (contains(b, p)) {
        const a = (b.x2 - b.x1) * (b.y2 - b.y1);
        if (a < area) { area = a; best = i; }
      }
    });
    return best;
  }

  // ---- editing -------------------------------------------------------------------------------------------------
  function select(i) {
    S.sel = i;
    syncSelection();
    changed(true);
  }
  function syncSelection() { // the class menu and comment field follow the selected box
    const b = S.boxes[S.sel];
    if (b) { catEl.value = b.category; if (labelCommentEl) labelCommentEl.value = b.comment || ""; }
  }
  function changed(list) { if (list) renderList(); requestDraw(); }

  function onDown(ev) {
    if (!S.task) return;
    canvas.focus();
    const p = toImage(ev);
    canvas.setPointerCapture(ev.pointerId);
    if (ev.button === 1 || ev.button === 2 || (ev.button === 0 && S.space)) { // pan
      S.drag = { mode: "pan", cx: ev.clientX, cy: ev.clientY, ox: S.view.ox, oy: S.view.oy };
      return;
    }
    if (ev.button !== 0) return;
    if (jobType === "verify") { const i = hitBox(p); select(i); return; }
    const c = hitCorner(p);
    if (c) {
      S.sel = c.i;
      S.drag = { mode: "resize", i: c.i, k: c.k, before: snapshot(), moved: false };
    } else {
      const i = hitBox(p);
      if (i >= 0) {
        S.sel = i; const b = S.boxes[i];
        S.drag = { mode: "move", i, dx: p.x - b.x1, dy: p.y - b.y1, before: snapshot(), moved: false };
      } else {
        S.sel = -1;
        S.drag = { mode: "draw", x0: clampX(p.x), y0: clampY(p.y), cur: null };
      }
    }
    syncSelection();
    changed(true);
  }

  function onMove(ev) {
    if (!S.task) return;
    const p = toImage(ev);
    const d = S.drag;
    if (!d) {
      if (jobType === "adjust") {
        const c = hitCorner(p);
        canvas.style.cursor = c ? (c.k % 2 === 0 ? "nwse-resize" : "nesw-resize") : hitBox(p) >= 0 ? "move" : "crosshair";
      }
      return;
    }
    if (d.mode === "pan") {
      panView(S.view, d, ev);
      S.bgStale = true;
      requestDraw();
      return;
    }
    if (d.mode === "draw") { d.cur = { x: clampX(p.x), y: clampY(p.y) }; requestDraw(); return; }
    const b = S.boxes[d.i];
    if (!d.moved) { S.history.push(d.before); d.moved = true; }
    dragBox(b, d, p, S.task.frame.width, S.task.frame.height);
    b.touched = true;
    requestDraw();
  }

  function onUp(ev) {
    const d = endDrag(S, canvas, ev);
    if (!d) return;
    if (d.mode === "draw") {
      if (rubberBig(d, S.view.scale)) {
        pushHistory();
        S.boxes.push({ id: null, category: catEl.value || S.task.job.categories[0], score: null, ...rubberBox(d) });
        S.sel = S.boxes.length - 1;
        setStatus("Box drawn");
      }
    } else if (d.moved) {
      normalise(S.boxes[d.i]);
      setStatus(d.mode === "move" ? "Box moved" : "Box resized");
    }
    changed(true);
  }

  function deleteSelected() {
    if (jobType !== "adjust" || S.sel < 0) return;
    pushHistory();
    S.boxes.splice(S.sel, 1);
    S.sel = -1;
    setStatus("Box deleted");
    changed(true);
  }
  function setCategory(cat) {
    if (jobType !== "adjust" || S.sel < 0 || S.boxes[S.sel].category === cat) return;
    pushHistory();
    S.boxes[S.sel].category = cat;
    catEl.value = cat;
    changed(true);
  }
  function setVerdict(v) {
    if (jobType !== "verify" || S.sel < 0) return;
    pushHistory();
    S.boxes[S.sel].verdict = v;
    const next = S.boxes.findIndex((b) => !b.verdict);
    if (next >= 0) select(next); else changed(true);
  }

  // ---- side list ------------------------------------------------------------------------------------------------
  function renderList() {
    const frag = document.createDocumentFragment();
    S.boxes.forEach((b, i) => {
      const li = document.createElement("li");
      li.className = (i === S.sel ? "sel " : "") + (b.verdict || "");
      li.dataset.index = i;
      li.textContent = `${b.category}${b.score != null ? " " + b.score.toFixed(2) : " (new)"}${b.verdict ? " · " + b.verdict : ""}`;
      li.addEventListener("click", () => select(i));
      frag.appendChild(li);
    });
    listEl.replaceChildren(frag);
    const sel = listEl.querySelector("li.sel");
    if (sel) sel.scrollIntoView({ block: "nearest" });
  }

  // ---- submit / next --------------------------------------------------------------------------------------------
  function answer() {
    const comment = commentEl.value || "";
    if (jobType === "adjust") {
      return { comment, boxes: S.boxes.map((b) => ({ id: b.id, category: b.category, box: [b.x1, b.y1, b.x2, b.y2] })) };
    }
    return { comment, verdicts: S.boxes.map((b) => ({ id: b.id, verdict: b.verdict, comment: b.comment || "" })) };
  }

  async function submit(acceptRest) {
    if (!S.task || S.submitting) return;
    if (jobType === "verify") {
      const open = S.boxes.filter((b) => !b.verdict);
      if (open.length && !acceptRest) { setStatus(`Judge every label: ${open.length} left (A marks the rest good)`, "error"); return; }
      if (acceptRest) { pushHistory(); open.forEach((b) => { b.verdict = "good"; }); changed(true); }
    }
    await submitAnswer(S, base, taskId, csrf, answer, setStatus, next);
  }
  function next() {
    const n = S.task && S.task.next_task;
    window.location.href = n ? `${base}/tasks/${n}` : `${base}/tasks`;
  }

  // ---- keys -------------------------------------------------------------------------------------------------------
  function onKey(ev) {
    if (!pageKey(ev, undo)) return;
    const k = ev.key;
    if (k === "Delete" || k === "Backspace") { ev.preventDefault(); deleteSelected(); }
    else if (k === "a" || k === "A" || k === "Enter") { ev.preventDefault(); submit(true); }
    else if (k === "n" || k === "N") { next(); }
    else if (k === "u" || k === "U") { undo(); }
    else if (k === "Escape") { S.sel = -1; changed(true); }
    else if (k === "0") { setZoom(1); }
    else if (k === " ") { ev.preventDefault(); S.space = true; }
    else if (k === "Tab") { ev.preventDefault(); if (S.boxes.length) select((S.sel + (ev.shiftKey ? S.boxes.length - 1 : 1)) % S.boxes.length); }
    else if (k === "g" || k === "G") { setVerdict("good"); }
    else if (k === "b" || k === "B") { setVerdict("bad"); }
    else if (/^[1-9]$/.test(k)) { const c = S.task.job.categories[Number(k) - 1]; if (c) setCategory(c); }
  }

  // ---- start ------------------------------------------------------------------------------------------------------
  const start = () => openTask(base, taskId, setStatus, async (task) => {
    S.task = task;
    document.getElementById("frame-id").textContent = S.task.frame.id;
    catEl.replaceChildren(...S.task.job.categories.map((c, i) => new Option(`${i + 1} ${c}`, c)));
    const prev = S.task.previous;
    const verdicts = {};
    if (prev && prev.verdicts) prev.verdicts.forEach((v) => { verdicts[v.id] = v; });
    const labels = (prev && prev.boxes) ? prev.boxes.map((b) => {
      const orig = S.task.labels.find((l) => l.id === b.id);
      return { id: b.id, category: b.category, score: orig ? orig.score : null, box: b.box };
    }) : S.task.labels;
    S.boxes = labels.map((l) => ({
      id: l.id, category: l.category, score: l.score, x1: l.box[0], y1: l.box[1], x2: l.box[2], y2: l.box[3],
      verdict: verdicts[l.id] ? verdicts[l.id].verdict : undefined, comment: verdicts[l.id] ? verdicts[l.id].comment : "",
    }));
    if (prev && prev.comment) commentEl.value = prev.comment;
    if (jobType === "verify") {
      document.getElementById("verify-tools").hidden = false;
      document.getElementById("delete").hidden = true;
    }
    const blob = await (await fetch(S.task.image, { credentials: "same-origin" })).blob();
    S.img = await createImageBitmap(blob);
    layout();
    renderList();
    setStatus(`${S.boxes.length} boxes · ${S.task.status === "submitted" ? "already submitted (you may resubmit)" : "pending"}`);
  });

  wireCanvas(canvas, S.view, { down: onDown, move: onMove, up: onUp, zoomAt: setZoom, ready: () => Boolean(S.img) });
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", (ev) => { if (ev.key === " ") S.space = false; });
  window.addEventListener("resize", layout);
  catEl.addEventListener("change", () => setCategory(catEl.value));
  document.getElementById("delete").addEventListener("click", deleteSelected);
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("submit").addEventListener("click", () => submit(false));
  document.getElementById("next").addEventListener("click", next);
  document.getElementById("good").addEventListener("click", () => setVerdict("good"));
  document.getElementById("bad").addEventListener("click", () => setVerdict("bad"));
  if (labelCommentEl) labelCommentEl.addEventListener("input", () => { if (S.sel >= 0) S.boxes[S.sel].comment = labelCommentEl.value; });

  // a small read-only handle for tests and tools
  window.prelabelAnnotator = {
    get boxes() { return S.boxes.map((b) => ({ ...b })); },
    get selected() { return S.sel; },
    get drawStats() { return { ...S.drawStats }; },
    get zoom() { return S.view.zoom; },
    resetStats() { S.drawStats = { frames: 0, ms: 0, maxMs: 0 }; },
    toScreen, requestDraw,
  };
  start();
})();
