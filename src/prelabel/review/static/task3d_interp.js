// Keyframe interpolation of 3D boxes along a track, as prelabel.refine.interpolate3d does it in Python (a Chromium
// test checks both agree): centre and size blended linearly between two human keyframes, yaw turned the shorter way
// round and wrapped into (-pi, pi]; centre/size rounded to 0.1 mm, yaw to 1e-5 rad. Never past the last keyframe.
const wrap = (a) => Math.atan2(Math.sin(a), Math.cos(a));
const round = (v, n) => Math.floor(v * 10 ** n + 0.5) / 10 ** n;

export function lerpBox(a, b, w) {
  const out = [];
  for (let k = 0; k < 6; k++) out.push(round((1 - w) * a[k] + w * b[k], 4));
  out.push(round(wrap(a[6] + w * wrap(b[6] - a[6])), 5));
  return out;
}

// keyframes: [[position, box], ...]; positions: the sequence positions to fill. Returns Map position -> box.
export function interpolateTrack(keyframes, positions) {
  const keys = [...keyframes].sort((p, q) => p[0] - q[0]), isKey = new Set(keys.map((k) => k[0])), out = new Map();
  for (let i = 0; i + 1 < keys.length; i++) {
    const [p1, a] = keys[i], [p2, b] = keys[i + 1];
    for (const p of positions) if (p > p1 && p < p2 && !isKey.has(p)) out.set(p, lerpBox(a, b, (p - p1) / (p2 - p1)));
  }
  return out;
}
