// Point work for the 3D task page, on the sweep as served: a Float32Array of x y z intensity rows (LiDAR frame).
import * as THREE from "./vendor/three/three.module.js";
import { inBoxLocal } from "./task3d_geometry.js";

// Colours (rgb rows into ``out``) by height (-3..3 m) or intensity (the dark half stretched, where most returns are).
export function pointColours(p, n, by, out) {
  let lo = Infinity, hi = -Infinity;
  const off = by === "height" ? 2 : 3;
  for (let i = 0; i < n; i++) { const v = p[i * 4 + off]; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (by === "height") { lo = Math.max(lo, -3); hi = Math.min(hi, 3); }
  else { hi = lo + (hi - lo) * 0.5; }
  const span = Math.max(1e-6, hi - lo), c = new THREE.Color();
  for (let i = 0; i < n; i++) {
    const t = Math.min(1, Math.max(0, (p[i * 4 + off] - lo) / span));
    c.setHSL(0.66 * (1 - t), 0.9, 0.35 + 0.3 * t);
    out[i * 3] = c.r; out[i * 3 + 1] = c.g; out[i * 3 + 2] = c.b;
  }
}

// The points within 1.5 m of a box's footprint (ground distance from its centre), with their colours.
export function nearPoints(p, n, colours, v) {
  const r = Math.hypot(v[3], v[4]) / 2 + 1.5, idx = [];
  for (let i = 0; i < n; i++) {
    const dx = p[i * 4] - v[0], dy = p[i * 4 + 1] - v[1];
    if (dx * dx + dy * dy < r * r) idx.push(i);
  }
  const pos = new Float32Array(idx.length * 3), col = new Float32Array(idx.length * 3);
  idx.forEach((i, k) => { for (let j = 0; j < 3; j++) { pos[k * 3 + j] = p[i * 4 + j]; col[k * 3 + j] = colours[i * 3 + j]; } });
  return { pos, col };
}

// The box fitted to the points inside it (within 0.3 m of its sides, above its floor + 0.15 m, heading kept):
// { box: [x, y, z, l, w, h] or null when fewer than 3 points, n }.
export function fitBox(p, count, v) {
  const m = 0.3, zlo = v[2] - v[5] / 2, zhi = v[2] + v[5] / 2;
  let n = 0, x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, z0 = Infinity, z1 = -Infinity;
  for (let i = 0; i < count; i++) {
    const pz = p[i * 4 + 2];
    if (pz < zlo + 0.15 || pz > zhi + m) continue;  // above the ground the box stands on
    const [lx, ly] = inBoxLocal(v, p[i * 4], p[i * 4 + 1]);
    if (Math.abs(lx) > v[3] / 2 + m || Math.abs(ly) > v[4] / 2 + m) continue;
    n++;
    x0 = Math.min(x0, lx); x1 = Math.max(x1, lx); y0 = Math.min(y0, ly); y1 = Math.max(y1, ly);
    z0 = Math.min(z0, pz); z1 = Math.max(z1, pz);
  }
  if (n < 3) return { box: null, n };
  const c = Math.cos(v[6]), s = Math.sin(v[6]), mx = (x0 + x1) / 2, my = (y0 + y1) / 2, bottom = Math.min(zlo, z0);
  const h = Math.max(0.2, z1 - bottom);
  return { box: [v[0] + c * mx - s * my, v[1] + s * mx + c * my, bottom + h / 2, Math.max(0.2, x1 - x0), Math.max(0.2, y1 - y0), h], n };
}
