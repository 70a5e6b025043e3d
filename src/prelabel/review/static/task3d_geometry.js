// Box geometry for the 3D task page: boxes are [x, y, z, length, width, height, yaw] (LiDAR frame, metres,
// radians about up; yaw 0 = length along x). Camera projection from K and camera_from_lidar (4x4).
export const NEAR = 0.1;  // metres: box edges are clipped at this depth in front of a camera
export const round = (v, n) => Math.round(v * 10 ** n) / 10 ** n;
export const wrap = (a) => Math.atan2(Math.sin(a), Math.cos(a));

// A ground point in the box frame: [along the heading, to its left].
export function inBoxLocal(v, px, py) {
  const c = Math.cos(v[6]), s = Math.sin(v[6]), dx = px - v[0], dy = py - v[1];
  return [c * dx + s * dy, -s * dx + c * dy];
}

// Mouse handles of a box on the bird's-eye view: its four corners (resize, the opposite corner stays)
// and a point 1 m ahead of its front (rotate about up).
export function handles(v) {
  const c = Math.cos(v[6]), s = Math.sin(v[6]), out = [];
  for (const [sx, sy] of [[1, 1], [-1, 1], [-1, -1], [1, -1]]) {
    const px = sx * v[3] / 2, py = sy * v[4] / 2;
    out.push([v[0] + c * px - s * py, v[1] + s * px + c * py, sx, sy]);
  }
  const f = v[3] / 2 + 1;
  out.push([v[0] + c * f, v[1] + s * f, 0, 0]);
  return out;
}


export const EDGES = [[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4], [0, 4], [1, 5], [2, 6], [3, 7]];
export function corners(v) {
  const [x, y, z, l, w, h, yaw] = v, c = Math.cos(yaw), s = Math.sin(yaw), out = [];
  for (const dz of [-0.5, 0.5]) for (const [dx, dy] of [[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]]) {
    const px = dx * l, py = dy * w;
    out.push([x + c * px - s * py, y + s * px + c * py, z + dz * h]);
  }
  return out;
}
export function toCam(m, p) {
  return [0, 1, 2].map((r) => m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3]);
}
export function pix(K, q) { return [K[0][0] * q[0] / q[2] + K[0][1] * q[1] / q[2] + K[0][2], K[1][1] * q[1] / q[2] + K[1][2]]; }

// The box's edges in one camera: segments in pixels, each clipped at the near plane; null when wholly behind.
export function projectBox(cam, v) {
  const q = corners(v).map((p) => toCam(cam.camera_from_lidar, p));
  const segs = [];
  for (const [a, b] of EDGES) {
    let p = q[a], r = q[b];
    if (p[2] < NEAR && r[2] < NEAR) continue;
    if (p[2] < NEAR || r[2] < NEAR) {
      const t = (NEAR - p[2]) / (r[2] - p[2]);
      const m = [p[0] + t * (r[0] - p[0]), p[1] + t * (r[1] - p[1]), NEAR];
      if (p[2] < NEAR) p = m; else r = m;
    }
    segs.push([pix(cam.K, p), pix(cam.K, r), a >= 4 && b >= 4]);
  }
  if (!segs.length) return null;
  const xs = segs.flatMap((s) => [s[0][0], s[1][0]]), ys = segs.flatMap((s) => [s[0][1], s[1][1]]);
  const W = cam.width || 1600, H = cam.height || 900;
  const rect = [Math.max(0, Math.min(...xs)), Math.max(0, Math.min(...ys)), Math.min(W, Math.max(...xs)), Math.min(H, Math.max(...ys))];
  if (rect[2] <= rect[0] || rect[3] <= rect[1]) return null;
  return { segs, rect: rect.map((e) => round(e, 2)) };
}
