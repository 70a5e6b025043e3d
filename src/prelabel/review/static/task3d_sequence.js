// Sequences on the 3D task page. The page of a sample in a sequence loads every sample of that sequence the worker
// holds (GET /api/tasks/<id>/sequence) and keeps all their boxes in memory: step (, .) or play/pause (Space) at a
// chosen rate without leaving the page; the selection follows the track id from sample to sample. A tracked box's
// class or size changed on one sample is carried to the whole track on every sample (and sent as a track edit,
// which the server also applies to answers stored earlier). Boxes the worker sets are keyframes (M toggles);
// I interpolates the selected track (or every track) between its keyframes (task3d_interp.js). Submit sends all
// samples at once (POST /api/tasks/<id>/sequence/response).
import { pageData } from "./page.js";
import { interpolateTrack } from "./task3d_interp.js";

export function sequenceTools({ S, base, jobType, setStatus, pushHistory, boxesFrom, answerOf, showSample }) {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const { csrf } = pageData();
  const cache = new Map();  // points URL -> Promise<ArrayBuffer>, the last few samples
  let playing = false;

  function fetchPoints(url) {
    if (!cache.has(url)) {
      cache.set(url, fetch(url, { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error(`points: HTTP ${r.status}`);
        return r.arrayBuffer();
      }));
      if (cache.size > 16) cache.delete(cache.keys().next().value);
    }
    return cache.get(url);
  }
  const pos = (i) => (S.seq.samples[i].index != null ? S.seq.samples[i].index : i);
  const trackBox = (s, t) => s.boxes.find((b) => b.track_id === t && !b.deleted);

  function showUI() {
    const seq = S.seq;
    $("seq-tools").hidden = false;
    $("seq-pos").textContent = `${seq.cur + 1} / ${seq.samples.length} · ${seq.name}`;
    $("prev-sample").disabled = seq.cur === 0;
    $("next-sample").disabled = seq.cur === seq.samples.length - 1;
    $("play").textContent = playing ? "Pause" : "Play";
    body.dataset.sample = String(seq.cur);
  }

  // Load the sequence; the current task's sample becomes the one shown. Returns its points.
  async function load() {
    const r = await fetch(`${base}/api/tasks/${S.task.task}/sequence`, { credentials: "same-origin" });
    if (!r.ok) { setStatus(`sequence: HTTP ${r.status}`, "error"); return null; }
    const seq = await r.json();
    for (const s of seq.samples) {
      s.boxes = boxesFrom(s.labels, s.previous);
      s.comment = (s.previous && s.previous.comment) || "";
    }
    seq.cur = Math.max(0, seq.samples.findIndex((s) => s.task === seq.current));
    seq.trackEdits = {};
    S.seq = seq;
    S.boxes = seq.samples[seq.cur].boxes;
    $("comment").value = seq.samples[seq.cur].comment;
    showUI();
    return fetchPoints(seq.samples[seq.cur].points);
  }

  async function go(j) {
    const seq = S.seq;
    if (!seq || j < 0 || j >= seq.samples.length) return false;
    const was = S.boxes[S.sel], track = was && was.track_id;
    seq.samples[seq.cur].comment = $("comment").value;
    const s = seq.samples[j];
    let buf;
    try { buf = await fetchPoints(s.points); } catch (e) { setStatus(String(e), "error"); return false; }
    seq.cur = j;
    S.boxes = s.boxes;
    S.sel = track ? s.boxes.findIndex((b) => b.track_id === track && !b.deleted) : -1;
    $("comment").value = s.comment;
    showSample(s, buf);
    showUI();
    if (seq.samples[j + 1]) fetchPoints(seq.samples[j + 1].points).catch(() => {});
    return true;
  }
  async function stepSample(dir) {
    if (!S.seq) return;
    const j = S.seq.cur + dir;
    if (j < 0 || j >= S.seq.samples.length) { setStatus(dir < 0 ? "First sample of the sequence" : "Last sample of the sequence"); return; }
    await go(j);
  }
  async function play() {
    if (!S.seq) return;
    if (playing) { playing = false; showUI(); return; }
    playing = true;
    if (S.seq.cur === S.seq.samples.length - 1) await go(0);
    showUI();
    while (playing && S.seq.cur < S.seq.samples.length - 1) {
      const t = performance.now(), period = 1000 / Number($("play-rate").value || 2);
      if (!(await go(S.seq.cur + 1))) break;
      await new Promise((res) => setTimeout(res, Math.max(0, period - (performance.now() - t))));
    }
    playing = false;
    showUI();
  }

  // A tracked box's class and size, carried to every box of its track on every sample. Returns boxes changed.
  function carry(b, force) {
    if (!S.seq || !b || !b.track_id || jobType !== "adjust") return 0;
    const size = b.box3d.slice(3, 6);
    let n = 0;
    for (const s of S.seq.samples) for (const o of s.boxes) {
      if (o === b || o.deleted || o.track_id !== b.track_id) continue;
      if (o.category === b.category && o.box3d.slice(3, 6).every((v, k) => v === size[k])) continue;
      o.category = b.category;
      o.box3d = [...o.box3d.slice(0, 3), ...size, o.box3d[6]];
      n += 1;
    }
    if (n || force) S.seq.trackEdits[b.track_id] = { track_id: b.track_id, category: b.category, size };
    return n;
  }
  function applyToTrack() {
    const b = S.boxes[S.sel];
    if (!S.seq || !b || b.deleted || !b.track_id || jobType !== "adjust") {
      setStatus("Select a box with a track id, in a sequence", "error"); return;
    }
    pushHistory("all");
    const n = carry(b, true);
    setStatus(`Track ${b.track_id}: class ${b.category} and this size on every sample (${n} boxes changed)`, "ok");
  }
  function toggleKeyframe() {
    const b = S.boxes[S.sel];
    if (!S.seq || !b || b.deleted || jobType !== "adjust") return;
    pushHistory();
    b.keyframe = !b.keyframe;
    b.interpolated = false;
    setStatus(b.keyframe ? "Keyframe" : "Not a keyframe");
  }
  // Fill the samples between keyframes of the selected box's track (or of every track).
  function interpolate() {
    if (!S.seq || jobType !== "adjust") return;
    const seq = S.seq, sel = S.boxes[S.sel];
    const tracks = sel && sel.track_id ? [sel.track_id]
      : [...new Set(seq.samples.flatMap((s) => s.boxes.filter((b) => b.track_id && !b.deleted).map((b) => b.track_id)))];
    const positions = seq.samples.map((_, i) => pos(i)), at = new Map(positions.map((p, i) => [p, i]));
    let filled = 0;
    pushHistory("all");
    for (const t of tracks) {
      const keys = [];
      seq.samples.forEach((s, i) => { const b = trackBox(s, t); if (b && b.keyframe) keys.push([pos(i), b]); });
      if (keys.length < 2) continue;
      const cats = new Set(keys.map((k) => k[1].category));
      if (cats.size > 1) { setStatus(`Track ${t}: keyframes disagree on the class (${[...cats].join(", ")})`, "error"); return; }
      const cat = keys[0][1].category;
      for (const [p, box] of interpolateTrack(keys.map((k) => [k[0], k[1].box3d]), positions)) {
        const s = seq.samples[at.get(p)], b = trackBox(s, t);
        if (b) { b.box3d = box; b.category = cat; b.interpolated = true; b.keyframe = false; }
        else s.boxes.push({ id: null, category: cat, score: null, track_id: t, box3d: box, interpolated: true });
        filled += 1;
      }
    }
    setStatus(`Interpolated ${filled} box${filled === 1 ? "" : "es"} between keyframes`, "ok");
    body.dataset.interpolated = String(filled);
  }
  function newTrackId() {
    const used = new Set(S.seq.samples.flatMap((s) => s.boxes.map((b) => b.track_id)));
    let n = 1;
    while (used.has(`new-${n}`)) n += 1;
    return `new-${n}`;
  }

  async function submitAll() {
    const seq = S.seq;
    seq.samples[seq.cur].comment = $("comment").value;
    const r = await fetch(`${base}/api/tasks/${seq.current}/sequence/response`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({
        samples: seq.samples.map((s) => ({ task: s.task, response: answerOf(s.boxes, s.comment) })),
        track_edits: Object.values(seq.trackEdits),
      }),
    });
    const data = await r.json();
    if (!r.ok) { setStatus(data.error || `HTTP ${r.status}`, "error"); return null; }
    setStatus(`Submitted ${data.submitted} samples` + (data.track_updates ? `; track edits reached ${data.track_updates} earlier answers` : ""), "ok");
    return data;
  }

  $("prev-sample").addEventListener("click", () => stepSample(-1));
  $("next-sample").addEventListener("click", () => stepSample(1));
  $("play").addEventListener("click", play);
  $("track").addEventListener("click", applyToTrack);
  $("keyframe").addEventListener("click", toggleKeyframe);
  $("interpolate").addEventListener("click", interpolate);
  return { load, stepSample, play, applyToTrack, carry, toggleKeyframe, interpolate, newTrackId, submitAll, go };
}
