// Track operations of the sequence task page, on plain data: frames = [{id, index, boxes: [{id, track_id, category,
// x1, y1, x2, y2, source}]}], source "human" (keyframe) | "interpolated" | "prelabel". No DOM here.
// Each operation returns {ok: true, ...} or {ok: false, error: "<message>"} and changes frames only when ok.
import { PALETTE } from "./page.js";

// The same maths as prelabel.refine.interpolate (linear): (1 - w) * a + w * b, w = (k - k1) / (k2 - k1).
export function lerpBox(a, b, w) {
  return [
    (1 - w) * a[0] + w * b[0], (1 - w) * a[1] + w * b[1], (1 - w) * a[2] + w * b[2], (1 - w) * a[3] + w * b[3],
  ];
}

export const xyxy = (b) => [b.x1, b.y1, b.x2, b.y2];
export const boxOf = (frame, tid) => frame.boxes.find((b) => b.track_id === tid);

const TRACK_PALETTE = [...PALETTE, "#e76f51", "#2a9d8f", "#e9c46a", "#a8dadc"];  // tracks: the class colours and more

// a stable colour per track id
export function trackColour(tid) {
  let h = 0;
  for (let i = 0; i < tid.length; i++) h = (h * 31 + tid.charCodeAt(i)) >>> 0;
  return TRACK_PALETTE[h % TRACK_PALETTE.length];
}

// every track id in the frames, in first-seen order
export function trackIds(frames) {
  const seen = new Set();
  for (const f of frames) for (const b of f.boxes) seen.add(b.track_id);
  return [...seen];
}

// where a track is: per frame position "" (absent), "h" (keyframe), "i" (interpolated), "p" (pre-label)
export function trackSpans(frames, tid) {
  return frames.map((f) => {
    const b = boxOf(f, tid);
    return !b ? "" : b.source === "human" ? "h" : b.source === "interpolated" ? "i" : "p";
  });
}

// Fill the frames between consecutive keyframes of the track; refuses keyframes of different classes.
export function interpolateTrack(frames, tid) {
  const keys = [];
  frames.forEach((f, k) => { const b = boxOf(f, tid); if (b && b.source === "human") keys.push(k); });
  if (keys.length < 2) {
    return { ok: false, error: `track ${tid} needs two keyframes to interpolate; it has ${keys.length}` };
  }
  for (let j = 1; j < keys.length; j++) {
    const a = boxOf(frames[keys[j - 1]], tid), b = boxOf(frames[keys[j]], tid);
    if (a.category !== b.category) {
      return {
        ok: false,
        error: `track ${tid}: keyframe ${frames[keys[j - 1]].id} says '${a.category}' but keyframe ` +
          `${frames[keys[j]].id} says '${b.category}'; interpolation needs one class per track ` +
          "(fix the class on one keyframe or split the track)",
      };
    }
  }
  let filled = 0;
  for (let j = 1; j < keys.length; j++) {
    const k1 = keys[j - 1], k2 = keys[j];
    const a = boxOf(frames[k1], tid), b = boxOf(frames[k2], tid);
    for (let k = k1 + 1; k < k2; k++) {
      const [x1, y1, x2, y2] = lerpBox(xyxy(a), xyxy(b), (k - k1) / (k2 - k1));
      let box = boxOf(frames[k], tid);
      if (!box) {
        box = { id: null, track_id: tid, category: a.category, score: null };
        frames[k].boxes.push(box);
      }
      Object.assign(box, { x1, y1, x2, y2, category: a.category, source: "interpolated" });
      filled += 1;
    }
  }
  return { ok: true, filled };
}

// Interpolate one track, or (tid null) every track with two keyframes; all or nothing.
export function interpolateTracks(frames, tid) {
  const tids = tid !== null ? [tid] : trackIds(frames).filter((t) => trackSpans(frames, t).filter((x) => x === "h").length > 1);
  if (!tids.length) return { ok: false, error: "No track has two keyframes: move or confirm (K) boxes on two frames first" };
  const before = frames.map((f) => f.boxes.map((b) => ({ ...b })));
  let filled = 0;
  for (const t of tids) {
    const res = interpolateTrack(frames, t);
    if (!res.ok) { frames.forEach((f, k) => { f.boxes = before[k]; }); return res; }
    filled += res.filled;
  }
  return { ok: true, filled, tracks: tids.length };
}

// A new track id for a split at frame index `index`, or a box drawn there: unique across the sequence's tasks,
// since a frame belongs to one task.
export function newTrackId(frames, base, index) {
  const taken = new Set(trackIds(frames));
  let id = `${base}~${index}`;
  for (let n = 2; taken.has(id); n++) id = `${base}~${index}.${n}`;
  return id;
}

// The track's boxes from frame position `pos` on get a new id.
export function splitTrack(frames, tid, pos) {
  const before = frames.slice(0, pos).some((f) => boxOf(f, tid));
  const after = frames.slice(pos).some((f) => boxOf(f, tid));
  if (!before || !after) {
    return { ok: false, error: `track ${tid} has no boxes on both sides of frame ${frames[pos].id}; nothing to split` };
  }
  const nid = newTrackId(frames, tid, frames[pos].index ?? pos);
  for (const f of frames.slice(pos)) { const b = boxOf(f, tid); if (b) b.track_id = nid; }
  return { ok: true, id: nid };
}

// Track `other` joins track `keep` (ids union); refused where both are in one frame.
export function mergeTracks(frames, keep, other) {
  if (keep === other) return { ok: false, error: "pick a different track to merge" };
  const clash = frames.filter((f) => boxOf(f, keep) && boxOf(f, other)).map((f) => f.id);
  if (clash.length) {
    const shown = clash.slice(0, 3).join(", ") + (clash.length > 3 ? ` and ${clash.length - 3} more` : "");
    return {
      ok: false,
      error: `tracks ${keep} and ${other} are both in frame ${shown}; a track is at most once per frame ` +
        "(delete or split one of them there first)",
    };
  }
  let moved = 0;
  for (const f of frames) { const b = boxOf(f, other); if (b) { b.track_id = keep; moved += 1; } }
  return { ok: true, moved };
}

// The whole track takes a class.
export function setTrackClass(frames, tid, category) {
  let n = 0;
  for (const f of frames) { const b = boxOf(f, tid); if (b && b.category !== category) { b.category = category; n += 1; } }
  return { ok: true, changed: n };
}

export function deleteTrack(frames, tid) {
  let n = 0;
  for (const f of frames) {
    const i = f.boxes.findIndex((b) => b.track_id === tid);
    if (i >= 0) { f.boxes.splice(i, 1); n += 1; }
  }
  return { ok: true, deleted: n };
}
