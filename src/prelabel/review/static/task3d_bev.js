// The bird's-eye view's mouse on the 3D task page: click to select, drag a box to move it, drag a corner handle to
// resize (the opposite corner stays) or the handle ahead of its front to rotate; N then drag draws a new box (fitted
// to its points); right- or middle-drag pans, the wheel zooms. The screen shows forward (x) up and left (y) left.
import { handles, inBoxLocal, round } from "./task3d_geometry.js";

export function bevInteraction({ S, canvas, viewports, select, pushHistory, syncBoxes, changed, setStatus, touched,
  fitToPoints, newTrackId, catEl, jobType }) {
  function bevWorld(ev) {
    const r = canvas.getBoundingClientRect(), vp = viewports().bev;
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    if (px > vp.w) return null;
    const a = vp.w / vp.h, s = S.bev.span / 2;
    // screen right = -y (left is +y), screen up = +x
    const sx = ((px / vp.w) * 2 - 1) * s * a, sy = (1 - (py / vp.h) * 2) * s;
    return [S.bev.cx + sy, S.bev.cy - sx];
  }

  S.toScreen = (x, y) => {
    const r = canvas.getBoundingClientRect(), vp = viewports().bev, a = vp.w / vp.h, s = S.bev.span / 2;
    const sx = -(y - S.bev.cy), sy = x - S.bev.cx;
    return { x: r.left + (sx / (s * a) + 1) / 2 * vp.w, y: r.top + (1 - sy / s) / 2 * vp.h };
  };
  S.handles = () => (S.boxes[S.sel] ? handles(S.boxes[S.sel].box3d) : []);

  function pickHandle(x, y) {
    const b = S.boxes[S.sel];
    if (!b || b.deleted || jobType !== "adjust") return null;
    const tol = 8 * S.bev.span / viewports().bev.h;
    for (const q of handles(b.box3d)) if (Math.hypot(q[0] - x, q[1] - y) < tol) return q;
    return null;
  }

  function pickBev(x, y) {
    let best = -1, area = Infinity;
    S.boxes.forEach((b, i) => {
      if (b.deleted) return;
      const [lx, ly] = inBoxLocal(b.box3d, x, y);
      if (Math.abs(lx) <= b.box3d[3] / 2 + 0.2 && Math.abs(ly) <= b.box3d[4] / 2 + 0.2 && b.box3d[3] * b.box3d[4] < area) {
        best = i; area = b.box3d[3] * b.box3d[4];
      }
    });
    return best;
  }

  canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.focus();
    const w = bevWorld(ev);
    if (!w) return;
    canvas.setPointerCapture(ev.pointerId);
    if (ev.button === 2 || ev.button === 1) { S.drag = { kind: "pan", x: ev.clientX, y: ev.clientY, cx: S.bev.cx, cy: S.bev.cy }; return; }
    if (S.drawing && jobType === "adjust") { S.drag = { kind: "draw", start: w, end: w }; return; }
    const hnd = pickHandle(w[0], w[1]);
    if (hnd) { pushHistory(Boolean(hnd[2])); S.drag = { kind: hnd[2] ? "resize" : "rotate", sx: hnd[2], sy: hnd[3] }; return; }
    const i = pickBev(w[0], w[1]);
    if (i !== S.sel) select(i);
    if (i >= 0 && jobType === "adjust") { pushHistory(); S.drag = { kind: "move", last: w, start: S.boxes[i].box3d.slice() }; }
  });
  canvas.addEventListener("pointermove", (ev) => {
    const d = S.drag;
    if (!d) return;
    if (d.kind === "pan") {
      const vp = viewports().bev, k = S.bev.span / vp.h;
      S.bev.cx = d.cx + (ev.clientY - d.y) * k; S.bev.cy = d.cy + (ev.clientX - d.x) * k; changed(false); return;
    }
    const w = bevWorld(ev);
    if (!w) return;
    if (d.kind === "move") {
      const b = S.boxes[S.sel];
      b.box3d[0] = round(b.box3d[0] + w[0] - d.last[0], 4); b.box3d[1] = round(b.box3d[1] + w[1] - d.last[1], 4);
      d.last = w; syncBoxes();
    } else if (d.kind === "rotate") {
      const v = S.boxes[S.sel].box3d;
      v[6] = round(Math.atan2(w[1] - v[1], w[0] - v[0]), 5); syncBoxes();
    } else if (d.kind === "resize") {
      const v = S.boxes[S.sel].box3d, c = Math.cos(v[6]), s = Math.sin(v[6]);
      const [lx, ly] = inBoxLocal(v, w[0], w[1]);
      const ox = -d.sx * v[3] / 2, oy = -d.sy * v[4] / 2;  // the opposite corner stays where it is
      const nl = Math.max(0.1, d.sx * (lx - ox)), nw = Math.max(0.1, d.sy * (ly - oy));
      const mx = ox + d.sx * nl / 2, my = oy + d.sy * nw / 2;
      v[0] = round(v[0] + c * mx - s * my, 4); v[1] = round(v[1] + s * mx + c * my, 4);
      v[3] = round(nl, 4); v[4] = round(nw, 4); syncBoxes();
    } else if (d.kind === "draw") { d.end = w; setStatus(`New box ${Math.abs(w[0] - d.start[0]).toFixed(1)} x ${Math.abs(w[1] - d.start[1]).toFixed(1)} m`); }
  });
  canvas.addEventListener("pointerup", () => {
    const d = S.drag;
    S.drag = null;
    if (d && d.kind === "move" && S.boxes[S.sel].box3d.every((v, k) => v === d.start[k])) { S.popHistory(); return; }  // a click
    if (d && d.kind !== "draw" && d.kind !== "pan") { touched(S.boxes[S.sel]); syncBoxes(); }
    if (!d || d.kind !== "draw") return;
    S.drawing = false;
    const l = Math.abs(d.end[0] - d.start[0]), w = Math.abs(d.end[1] - d.start[1]);
    if (l < 0.3 || w < 0.3) { setStatus("Drag a larger rectangle to draw a box"); return; }
    pushHistory();
    const x = (d.start[0] + d.end[0]) / 2, y = (d.start[1] + d.end[1]) / 2;
    S.boxes.push({ id: null, category: catEl.value || S.task.job.categories[0], score: null,
      track_id: S.seq ? newTrackId() : null, box3d: [round(x, 4), round(y, 4), -1.0, round(l, 4), round(w, 4), 1.6, 0] });
    select(S.boxes.length - 1);
    fitToPoints();
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    S.bev.span = Math.min(400, Math.max(4, S.bev.span * (ev.deltaY > 0 ? 1.15 : 1 / 1.15)));
    changed(false);
  }, { passive: false });
}
