// prelabel review: the 2D box canvas shared by the worker view (annotator.js) and the sequence page (sequence.js):
// the view (zoom, image <-> page coordinates), drawing a box, dragging one, and posting the answer. Boxes are
// { x1, y1, x2, y2 } in image pixels; a view is { scale, fit, zoom, ox, oy, dpr, cssW, cssH } (CSS px).

export const corners = (b) => [[b.x1, b.y1], [b.x2, b.y1], [b.x2, b.y2], [b.x1, b.y2]];
export const contains = (b, p) => p.x >= b.x1 && p.x <= b.x2 && p.y >= b.y1 && p.y <= b.y2;
const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);

// the corner (0-3, clockwise from top-left) within tol image pixels of p, or -1
export const nearCorner = (b, p, tol) =>
  corners(b).findIndex(([x, y]) => Math.abs(p.x - x) <= tol && Math.abs(p.y - y) <= tol);

// zoom 1 fits a w x h frame; above 1 the point under (cx, cy) (CSS px in the canvas) stays where it is
export function zoomView(v, w, h, zoom, cx, cy) {
  const z = Math.min(Math.max(zoom, 1), 16);
  if (z === 1) {
    v.scale = v.fit; v.ox = (v.cssW - w * v.scale) / 2; v.oy = (v.cssH - h * v.scale) / 2;
  } else {
    const px = (cx - v.ox) / v.scale, py = (cy - v.oy) / v.scale;
    v.scale = v.fit * z; v.ox = cx - px * v.scale; v.oy = cy - py * v.scale;
  }
  v.zoom = z;
}

// the image point under a pointer event, and the page coordinates of an image point (used by tests and tools)
export function toImage(canvas, v, ev) {
  const r = canvas.getBoundingClientRect();
  return { x: (ev.clientX - r.left - v.ox) / v.scale, y: (ev.clientY - r.top - v.oy) / v.scale };
}
export function toScreen(canvas, v, x, y) {
  const r = canvas.getBoundingClientRect();
  return { x: r.left + v.ox + x * v.scale, y: r.top + v.oy + y * v.scale };
}
export const imageTransform = (ctx, v) => ctx.setTransform(v.dpr * v.scale, 0, 0, v.dpr * v.scale, v.dpr * v.ox, v.dpr * v.oy);

// a box in image units (px: one CSS pixel): outline (dashed if asked), its label above it (below at the top
// edge), and corner handles when asked
export function drawBox(ctx, b, { col, text, selected, dashed, handles, px }) {
  ctx.strokeStyle = col; ctx.lineWidth = (selected ? 3 : 1.5) * px;
  if (dashed) ctx.setLineDash([6 * px, 4 * px]);
  ctx.strokeRect(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1);
  if (dashed) ctx.setLineDash([]);
  const tw = ctx.measureText(text).width + 6 * px, ty = b.y1 - 16 * px < 0 ? b.y1 + 16 * px : b.y1;
  ctx.fillStyle = selected ? col : "rgba(0,0,0,0.6)"; ctx.fillRect(b.x1, ty - 16 * px, tw, 16 * px);
  ctx.fillStyle = selected ? "#000" : "#fff"; ctx.fillText(text, b.x1 + 3 * px, ty - 2 * px);
  if (handles) {
    ctx.fillStyle = "#fff"; ctx.strokeStyle = "#000"; ctx.lineWidth = px;
    const hs = 8 * px;
    for (const [x, y] of corners(b)) { ctx.fillRect(x - hs / 2, y - hs / 2, hs, hs); ctx.strokeRect(x - hs / 2, y - hs / 2, hs, hs); }
  }
}

// ---- a drag: { mode: "draw", x0, y0, cur } draws a new box, { mode: "move", dx, dy } or { mode: "resize", k } edits one
export function drawRubber(ctx, d, px) {
  ctx.setLineDash([6 * px, 4 * px]); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5 * px;
  ctx.strokeRect(Math.min(d.x0, d.cur.x), Math.min(d.y0, d.cur.y), Math.abs(d.cur.x - d.x0), Math.abs(d.cur.y - d.y0));
  ctx.setLineDash([]);
}
// the drawn box, when at least 4 CSS px each way
export const rubberBig = (d, scale) => Boolean(d.cur) && Math.abs(d.cur.x - d.x0) * scale >= 4 && Math.abs(d.cur.y - d.y0) * scale >= 4;
export const rubberBox = (d) => ({
  x1: Math.min(d.x0, d.cur.x), y1: Math.min(d.y0, d.cur.y), x2: Math.max(d.x0, d.cur.x), y2: Math.max(d.y0, d.cur.y),
});
// moves box b (keeping its size) or its corner d.k to image point p, inside a w x h frame
export function dragBox(b, d, p, w, h) {
  if (d.mode === "move") {
    const bw = b.x2 - b.x1, bh = b.y2 - b.y1;
    b.x1 = clamp(p.x - d.dx, w - bw); b.y1 = clamp(p.y - d.dy, h - bh); b.x2 = b.x1 + bw; b.y2 = b.y1 + bh;
  } else {
    const x = clamp(p.x, w), y = clamp(p.y, h);
    if (d.k === 0 || d.k === 3) b.x1 = x; else b.x2 = x;
    if (d.k === 0 || d.k === 1) b.y1 = y; else b.y2 = y;
  }
}
// a corner dragged past its opposite flips the box: normalise
export function normalise(b) {
  [b.x1, b.x2] = [Math.min(b.x1, b.x2), Math.max(b.x1, b.x2)];
  [b.y1, b.y2] = [Math.min(b.y1, b.y2), Math.max(b.y1, b.y2)];
}

// submits the task's answer (one POST at a time: state.submitting); when saved, marks the page
// (body[data-submitted]), keeps the next task in state.task.next_task and goes there (next) after a moment
export async function submitAnswer(state, base, taskId, csrf, answer, setStatus, next) {
  state.submitting = true;
  setStatus("Submitting…");
  try {
    const r = await fetch(`${base}/api/tasks/${taskId}/response`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(answer()),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) { setStatus(`Not saved: ${data.error || r.status}`, "error"); return; }
    setStatus("Saved", "ok");
    document.body.dataset.submitted = String(data.response);
    state.task.next_task = data.next_task;
    setTimeout(next, 300);
  } catch (e) {
    setStatus(`Not saved: ${e}`, "error");
  } finally {
    state.submitting = false;
  }
}

// fetches the task and hands it to show (which may await); the page is then ready (body[data-ready]); a task that
// cannot be opened or shown is said in the status line
export async function openTask(base, taskId, setStatus, show) {
  try {
    const r = await fetch(`${base}/api/tasks/${taskId}`, { credentials: "same-origin" });
    if (!r.ok) { setStatus(`Cannot open task ${taskId}: ${r.status}`, "error"); return; }
    await show(await r.json());
    document.body.dataset.ready = "1";
  } catch (e) {
    setStatus(`Cannot load the task: ${e}`, "error");
  }
}

// whether the page's own keys should handle ev: not while typing in a field (Escape leaves it; with
// rangeKeys a slider is no field), nor a focused button's Enter/Space, nor a Ctrl/Cmd/Alt chord
// (Ctrl/Cmd+Z calls undo)
export function pageKey(ev, undo, rangeKeys = false) {
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) && !(rangeKeys && tag === "INPUT" && ev.target.type === "range")) {
    if (ev.key === "Escape") ev.target.blur();
    return false;
  }
  const k = ev.key;
  if (tag === "BUTTON" && (k === "Enter" || k === " ")) return false; // the focused button handles its own key
  if ((ev.ctrlKey || ev.metaKey) && k.toLowerCase() === "z") { ev.preventDefault(); undo(); return false; }
  return !(ev.ctrlKey || ev.metaKey || ev.altKey);
}

// the pointer handlers on the canvas, no context menu, and the wheel zooming about the pointer
// (zoomAt(zoom, cx, cy) in CSS px; only once ready())
export function wireCanvas(canvas, view, { down, move, up, zoomAt, ready }) {
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
  canvas.addEventListener("wheel", (ev) => {
    if (!ready()) return;
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomAt(view.zoom * Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
}

// a pan drag ({ mode: "pan", cx, cy, ox, oy }: where it started) moves the view with the pointer
export function panView(v, d, ev) {
  v.ox = d.ox + ev.clientX - d.cx;
  v.oy = d.oy + ev.clientY - d.cy;
}
// ends state.drag, releasing the pointer; returns the drag unless there was none or it panned
export function endDrag(state, canvas, ev) {
  const d = state.drag;
  state.drag = null;
  if (!d) return null;
  if (canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
  return d.mode === "pan" ? null : d;
}
