// Dragging in the top, side and back views of the selected box (3D task page). Drag inside the box to move it in
// that view's plane; drag one of its edges (within 6 px) to resize it on that side, the opposite side staying put.
// Each view looks at the box along a fixed axis of the box (task3d.js, fitDetailCameras):
//   top:  screen right = the box's right (-left), screen up = its heading;      sizes: width across, length up
//   side: screen right = backwards (-heading),    screen up = up (z);          sizes: length across, height up
//   back: screen right = the box's right (-left), screen up = up (z);          sizes: width across, height up
import { round } from "./task3d_geometry.js";

const EDGE_PX = 6;
// per view: [right axis, up axis] as "left" | "fwd" | "z" with a sign, and the size index along each
const VIEWS = {
  top: { right: [-1, "left"], up: [1, "fwd"], size: [4, 3] },
  side: { right: [-1, "fwd"], up: [1, "z"], size: [3, 5] },
  back: { right: [-1, "left"], up: [1, "z"], size: [4, 5] },
};

function axis(v, [sign, name]) {
  const c = Math.cos(v[6]), s = Math.sin(v[6]);
  const a = name === "fwd" ? [c, s, 0] : name === "left" ? [-s, c, 0] : [0, 0, 1];
  return a.map((e) => sign * e);
}

export function detailInteraction({ S, canvas, viewports, pushHistory, syncBoxes, touched, jobType }) {
  // which detail view a pointer is in, its viewport and the metres per pixel there (as fitDetailCameras frames it)
  function where(ev) {
    const r = canvas.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top, vps = viewports();
    const b = S.boxes[S.sel];
    if (!b || b.deleted || px < vps.bev.w) return null;
    for (const name of ["top", "side", "back"]) {
      const vp = vps[name];
      if (py < vp.y || py >= vp.y + vp.h) continue;
      const v = b.box3d, [iu, iv] = VIEWS[name].size;
      const ext = name === "top" ? Math.max(v[3], v[4]) : name === "side" ? Math.max(v[3], v[5]) : Math.max(v[4], v[5]);
      const k = 2 * (ext * 0.75 + 0.5) / vp.h;  // metres per pixel
      return { name, vp, k, u: (px - vp.x - vp.w / 2) * k, w: -(py - vp.y - vp.h / 2) * k, iu, iv };
    }
    return null;
  }
  // for tests: the screen point of view-plane coordinates (metres right / up of the box centre) in a view
  S.detailToScreen = (name, u, w) => {
    const r = canvas.getBoundingClientRect(), vp = viewports()[name], v = S.boxes[S.sel].box3d;
    const ext = name === "top" ? Math.max(v[3], v[4]) : name === "side" ? Math.max(v[3], v[5]) : Math.max(v[4], v[5]);
    const k = 2 * (ext * 0.75 + 0.5) / vp.h;
    return { x: r.left + vp.x + vp.w / 2 + u / k, y: r.top + vp.y + vp.h / 2 - w / k };
  };

  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    const at = where(ev);
    if (!at || ev.button !== 0 || jobType !== "adjust") return;
    const v = S.boxes[S.sel].box3d, hu = v[at.iu] / 2, hv = v[at.iv] / 2, tol = EDGE_PX * at.k;
    const eu = Math.abs(Math.abs(at.u) - hu) < tol && Math.abs(at.w) <= hv + tol ? Math.sign(at.u) : 0;
    const ev2 = Math.abs(Math.abs(at.w) - hv) < tol && Math.abs(at.u) <= hu + tol ? Math.sign(at.w) : 0;
    const inside = Math.abs(at.u) <= hu && Math.abs(at.w) <= hv;
    if (!eu && !ev2 && !inside) return;
    canvas.setPointerCapture(ev.pointerId);
    pushHistory(Boolean(eu || ev2));  // a resize reaches the track
    drag = { view: at.name, eu, ev: ev2, x: ev.clientX, y: ev.clientY, moved: false };
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const at = where(ev) || { k: 0 };
    const vp = viewports()[drag.view], b = S.boxes[S.sel];
    const v = b.box3d.slice(), spec = VIEWS[drag.view];
    const ext = drag.view === "top" ? Math.max(v[3], v[4]) : drag.view === "side" ? Math.max(v[3], v[5]) : Math.max(v[4], v[5]);
    const k = at.k || 2 * (ext * 0.75 + 0.5) / vp.h;
    const du = (ev.clientX - drag.x) * k, dw = -(ev.clientY - drag.y) * k;
    drag.x = ev.clientX; drag.y = ev.clientY;
    const R = axis(v, spec.right), U = axis(v, spec.up), shift = [0, 0, 0];
    if (!drag.eu && !drag.ev) {
      for (let q = 0; q < 3; q++) shift[q] = du * R[q] + dw * U[q];
    } else {
      if (drag.eu) {
        const ns = Math.max(0.1, v[spec.size[0]] + drag.eu * du), d = ns - v[spec.size[0]];
        v[spec.size[0]] = ns;
        for (let q = 0; q < 3; q++) shift[q] += drag.eu * d / 2 * R[q];
      }
      if (drag.ev) {
        const ns = Math.max(0.1, v[spec.size[1]] + drag.ev * dw), d = ns - v[spec.size[1]];
        v[spec.size[1]] = ns;
        for (let q = 0; q < 3; q++) shift[q] += drag.ev * d / 2 * U[q];
      }
    }
    for (let q = 0; q < 3; q++) v[q] += shift[q];
    b.box3d = v.map((e, q) => round(e, q === 6 ? 5 : 4));
    drag.moved = true;
    syncBoxes();
  });
  canvas.addEventListener("pointerup", () => {
    if (!drag) return;
    if (!drag.moved) S.popHistory();
    else { touched(S.boxes[S.sel]); syncBoxes(); }
    drag = null;
  });
}
