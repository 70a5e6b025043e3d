// prelabel review: the 3D task page (ES module, three.js from the package's own static files).
// One WebGL canvas with four viewports: the bird's-eye view (left) and top, side and back views of the selected box
// (right). Below it, every camera image with all boxes projected (2D canvas, projection computed here from K and
// camera_from_lidar, edges clipped at the camera's near plane), redrawn whenever a box changes.
// Boxes are [x, y, z, length, width, height, yaw] in the LiDAR frame (x forward, y left, z up; metres, radians).
// Text from the job (names, classes, comments) only ever goes through textContent.
import * as THREE from "./vendor/three/three.module.js";
import { answerTools } from "./task3d_answers.js";
import { bevInteraction } from "./task3d_bev.js";
import { detailInteraction } from "./task3d_detail.js";
import { bindKeys } from "./task3d_keys.js";
import { orbitView } from "./task3d_orbit.js";
import { buildCameraViews, drawCameraViews } from "./task3d_cameras.js";
import { EDGES, corners, handles, round, wrap } from "./task3d_geometry.js";
import { fitBox, nearPoints, pointColours } from "./task3d_points.js";
import { sequenceTools } from "./task3d_sequence.js";
import { classColour, pageData, statusSetter } from "./page.js";

const body = document.body;
const { base, taskId, jobType, csrf } = pageData();
const $ = (id) => document.getElementById(id);
const canvas = $("gl");
const viewsEl = $("views");
const labelsEl = $("labels3d");
const camsEl = $("cams");
const listEl = $("boxes");
const catEl = $("category");
const statusEl = $("status");
const selInfo = $("sel-info");

const S = {
  task: null, boxes: [], sel: -1, history: [], points: null, count: 0, colourBy: "height",
  bev: { cx: 0, cy: 0, span: 80 }, drawing: false, drag: null, dirty: true, camsDirty: true,
  proj: {}, submitting: false, readyMs: null,
  stats: { frames: 0, ms: 0, maxMs: 0, last: [] },
};
window.__review3d = S;

const setStatus = statusSetter(statusEl);
const colour = (cat) => classColour(S.task.job.categories, cat);

// ---- three.js scene ----------------------------------------------------------------------------------------------
const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: false });
renderer.setClearColor(0x0b0d12);
renderer.setScissorTest(true);
const scene = new THREE.Scene();
const bevCam = new THREE.OrthographicCamera(-1, 1, 1, -1, -500, 500);
bevCam.up.set(1, 0, 0);  // forward (x) points up the screen, left (y) to the left
const detailCams = { top: new THREE.OrthographicCamera(), side: new THREE.OrthographicCamera(),
  back: new THREE.OrthographicCamera() };
// All boxes are two line objects (the selected one white, the rest by class: one draw call each, not two per box)
// and the selected box's handles one point object; rebuilt from S.boxes whenever a box changes.
const lineMat = new THREE.LineBasicMaterial({ vertexColors: true });
const boxLines = new THREE.LineSegments(new THREE.BufferGeometry(), lineMat);
const selLines = new THREE.LineSegments(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ color: 0xffffff }));
const handlePts = new THREE.Points(new THREE.BufferGeometry(), new THREE.PointsMaterial({ size: 9, sizeAttenuation: false, color: 0xffffff }));
for (const o of [boxLines, selLines, handlePts]) { o.frustumCulled = false; scene.add(o); }
boxLines.layers.enable(1); selLines.layers.enable(1);
const rgb = new Map();  // category -> [r, g, b]
let pointsObj = null;
// The sweep is drawn into the bird's-eye view only when that view (or the colouring) changes: into a texture that
// each frame copies, before drawing the boxes on top. So moving a box costs a copy, not 120,000 points again.
const POINTS_LAYER = 2;
const bevTarget = new THREE.WebGLRenderTarget(1, 1);
const quadScene = new THREE.Scene();
const quadCam = new THREE.OrthographicCamera(-1, 1, 1, -1, 0, 1);
quadScene.add(new THREE.Mesh(new THREE.PlaneGeometry(2, 2),
  new THREE.MeshBasicMaterial({ map: bevTarget.texture, depthTest: false, depthWrite: false })));
let bevKey = "";
// The detail views see layer 1 only: the boxes and the points near the selected box (not the whole sweep).
for (const c of Object.values(detailCams)) c.layers.set(1);
let nearObj = null, nearKey = "";

function updateNear(b) {
  const key = S.sel + ":" + b.box3d.join(",") + ":" + S.colourBy;
  if (key === nearKey || !pointsObj) return;
  nearKey = key;
  const { pos, col } = nearPoints(S.points, S.count, pointsObj.geometry.getAttribute("color").array, b.box3d);
  if (!nearObj) {
    nearObj = new THREE.Points(new THREE.BufferGeometry(), new THREE.PointsMaterial({ size: 3, sizeAttenuation: false, vertexColors: true }));
    nearObj.layers.set(1);
    nearObj.frustumCulled = false;
    scene.add(nearObj);
  }
  nearObj.geometry.dispose();
  nearObj.geometry = new THREE.BufferGeometry();
  nearObj.geometry.setAttribute("position", new THREE.BufferAttribute(pos, 3));
  nearObj.geometry.setAttribute("color", new THREE.BufferAttribute(col, 3));
}

function viewports() {
  const w = canvas.clientWidth, h = canvas.clientHeight, side = Math.round(w * 0.3), third = Math.floor(h / 3);
  return {
    bev: { x: 0, y: 0, w: w - side, h },
    top: { x: w - side, y: 0, w: side, h: third },
    side: { x: w - side, y: third, w: side, h: third },
    back: { x: w - side, y: 2 * third, w: side, h: h - 2 * third },
  };
}

function fitBevCamera(vp) {
  const a = vp.w / vp.h, s = S.bev.span / 2;
  bevCam.left = -s * a; bevCam.right = s * a; bevCam.top = s; bevCam.bottom = -s;
  bevCam.position.set(S.bev.cx, S.bev.cy, 100);
  bevCam.lookAt(S.bev.cx, S.bev.cy, 0);
  bevCam.updateProjectionMatrix();
}

function fitDetailCameras(vps) {
  const b = S.boxes[S.sel];
  if (!b || b.deleted) return;
  const [x, y, z, l, w, h, yaw] = b.box3d;
  const c = Math.cos(yaw), s = Math.sin(yaw);
  const fwd = new THREE.Vector3(c, s, 0), left = new THREE.Vector3(-s, c, 0), up = new THREE.Vector3(0, 0, 1);
  const ctr = new THREE.Vector3(x, y, z);
  const depth = Math.max(l, w, h) / 2 + 1;  // only what lies within a metre of the box
  const set = (cam, vp, dir, camUp, ext) => {
    const a = vp.w / Math.max(1, vp.h), half = ext * 0.75 + 0.5;
    cam.left = -half * a; cam.right = half * a; cam.top = half; cam.bottom = -half;
    cam.near = 20 - depth; cam.far = 20 + depth;
    cam.position.copy(ctr).addScaledVector(dir, 20);
    cam.up.copy(camUp);
    cam.lookAt(ctr);
    cam.updateProjectionMatrix();
  };
  set(detailCams.top, vps.top, up, fwd, Math.max(l, w));
  set(detailCams.side, vps.side, left, up, Math.max(l, h));
  set(detailCams.back, vps.back, fwd.clone().negate(), up, Math.max(w, h));
}

function render() {
  const t = performance.now();
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * devicePixelRatio) || canvas.height !== Math.round(h * devicePixelRatio)) {
    renderer.setPixelRatio(devicePixelRatio);
    renderer.setSize(w, h, false);
  }
  const vps = viewports();
  fitBevCamera(vps.bev);
  const draw = (cam, vp, sc = scene) => {
    const y = h - vp.y - vp.h;  // WebGL viewports count from the bottom
    renderer.setViewport(vp.x, y, vp.w, vp.h);
    renderer.setScissor(vp.x, y, vp.w, vp.h);
    renderer.render(sc, cam);
  };
  const key = [vps.bev.w, vps.bev.h, S.bev.cx, S.bev.cy, S.bev.span, S.colourVersion, devicePixelRatio].join();
  if (key !== bevKey && pointsObj) {
    bevKey = key;
    bevTarget.setSize(Math.round(vps.bev.w * devicePixelRatio), Math.round(vps.bev.h * devicePixelRatio));
    bevCam.layers.set(POINTS_LAYER);
    renderer.setRenderTarget(bevTarget);
    renderer.render(scene, bevCam);
    renderer.setRenderTarget(null);
    bevCam.layers.set(0);
    S.stats.bevDraws = (S.stats.bevDraws || 0) + 1;
  }
  if (S.orbit) draw(orbit.place(vps.bev), vps.bev);  // the sweep drawn from the orbit camera, every frame
  else {
    draw(quadCam, vps.bev, quadScene);
    renderer.autoClear = false;
    draw(bevCam, vps.bev);
    renderer.autoClear = true;
  }
  const b = S.boxes[S.sel];
  if (b && !b.deleted) {
    fitDetailCameras(vps);
    updateNear(b);
    for (const k of ["top", "side", "back"]) draw(detailCams[k], vps[k]);
  } else {
    for (const k of ["top", "side", "back"]) {
      const vp = vps[k], y = h - vp.y - vp.h;
      renderer.setScissor(vp.x, y, vp.w, vp.h); renderer.setViewport(vp.x, y, vp.w, vp.h);
      renderer.clear();
    }
  }
  placeLabels(vps.bev, S.orbit ? orbit.place(vps.bev) : bevCam);
  if (S.camsDirty) { drawCameraViews(S, colour); S.camsDirty = false; }
  const ms = performance.now() - t;
  const st = S.stats;
  st.frames += 1; st.ms += ms; st.maxMs = Math.max(st.maxMs, ms); st.last.push(ms);
  if (st.last.length > 240) st.last.shift();
}

function loop() {
  if (S.dirty) { S.dirty = false; render(); }
  requestAnimationFrame(loop);
}
const changed = (cams = true) => { S.dirty = true; if (cams) S.camsDirty = true; };
const orbit = orbitView({ S, canvas, viewports, changed, pointsLayer: POINTS_LAYER });

// ---- points ------------------------------------------------------------------------------------------------------
function colourPoints() {
  if (!pointsObj) return;
  const col = pointsObj.geometry.getAttribute("color");
  pointColours(S.points, S.count, S.colourBy, col.array);
  col.needsUpdate = true;
  S.colourVersion = (S.colourVersion || 0) + 1;
  $("colour").textContent = "Colour: " + S.colourBy;
  changed(false);
}

function buildPoints(buf) {
  if (pointsObj) { scene.remove(pointsObj); pointsObj.geometry.dispose(); pointsObj.material.dispose(); }
  nearKey = "";
  S.points = new Float32Array(buf);
  S.count = S.points.length / 4;
  const geom = new THREE.BufferGeometry();
  const inter = new THREE.InterleavedBuffer(S.points, 4);
  geom.setAttribute("position", new THREE.InterleavedBufferAttribute(inter, 3, 0));
  geom.setAttribute("color", new THREE.BufferAttribute(new Float32Array(S.count * 3), 3));
  pointsObj = new THREE.Points(geom, new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true }));
  pointsObj.layers.set(POINTS_LAYER);
  scene.add(pointsObj);
  colourPoints();
}

// ---- boxes -------------------------------------------------------------------------------------------------------
function setGeometry(obj, pos, col) {
  obj.geometry.dispose();
  obj.geometry = new THREE.BufferGeometry();
  obj.geometry.setAttribute("position", new THREE.BufferAttribute(pos, 3));
  if (col) obj.geometry.setAttribute("color", new THREE.BufferAttribute(col, 3));
}
// 12 edges and a heading line (top centre to the middle of the top front edge): 26 vertices per box
function boxSegments(v, out, at) {
  const c = corners(v), top = (v[2] + v[5] / 2), k = Math.cos(v[6]), s = Math.sin(v[6]);
  let o = at;
  const put = (p) => { out[o++] = p[0]; out[o++] = p[1]; out[o++] = p[2]; };
  for (const [a, b] of EDGES) { put(c[a]); put(c[b]); }
  put([v[0], v[1], top]); put([v[0] + k * v[3] / 2, v[1] + s * v[3] / 2, top]);
  return o;
}
function syncBoxes() {
  const shown = S.boxes.filter((b, i) => !b.deleted && i !== S.sel), sel = S.boxes[S.sel];
  const pos = new Float32Array(shown.length * 78), col = new Float32Array(shown.length * 78);
  let o = 0;
  for (const b of shown) {
    if (!rgb.has(b.category)) { const c = new THREE.Color(colour(b.category)); rgb.set(b.category, [c.r, c.g, c.b]); }
    const c = rgb.get(b.category), start = o;
    o = boxSegments(b.box3d, pos, o);
    for (let q = start; q < o; q += 3) { col[q] = c[0]; col[q + 1] = c[1]; col[q + 2] = c[2]; }
  }
  setGeometry(boxLines, pos, col);
  const one = new Float32Array(sel && !sel.deleted ? 78 : 0);
  if (one.length) boxSegments(sel.box3d, one, 0);
  setGeometry(selLines, one);
  const hs = sel && !sel.deleted && jobType === "adjust" ? handles(sel.box3d) : [];
  setGeometry(handlePts, new Float32Array(hs.flatMap((q) => [q[0], q[1], sel.box3d[2] + sel.box3d[5] / 2])));
  renderList();
  showSelection();
  changed();
}

// The class labels over the bird's-eye view: the same divs reused, only what changed is touched (a moved box's
// label moves; nothing else is restyled or laid out again).
const labelDivs = [];
function placeLabels(vp, cam) {
  const v = new THREE.Vector3();
  let n = 0;
  S.boxes.forEach((b, i) => {
    if (b.deleted) return;
    v.set(b.box3d[0], b.box3d[1], b.box3d[2]).project(cam);
    if (Math.abs(v.x) > 1 || Math.abs(v.y) > 1 || v.z > 1) return;
    if (n === labelDivs.length) { labelDivs.push(document.createElement("div")); labelsEl.appendChild(labelDivs[n]); }
    const d = labelDivs[n++];
    const text = b.category + (b.score != null ? " " + b.score.toFixed(2) : "") + (b.track_id ? " #" + b.track_id : "");
    const left = Math.round(vp.x + (v.x + 1) / 2 * vp.w) + "px", top = Math.round(vp.y + (1 - v.y) / 2 * vp.h) + "px";
    if (d.textContent !== text) d.textContent = text;
    if (d.className !== (i === S.sel ? "sel" : "")) d.className = i === S.sel ? "sel" : "";
    if (d.style.left !== left) d.style.left = left;
    if (d.style.top !== top) d.style.top = top;
    if (d.hidden) d.hidden = false;
  });
  for (let k = n; k < labelDivs.length; k++) if (!labelDivs[k].hidden) labelDivs[k].hidden = true;
}

let listKey = "";
function renderList() {
  const key = S.sel + JSON.stringify(S.boxes.map((b) => [b.id, b.category, b.score, b.track_id, b.deleted, b.verdict]));
  if (key === listKey) return;
  listKey = key;
  const frag = document.createDocumentFragment();
  S.boxes.forEach((b, i) => {
    const li = document.createElement("li");
    li.dataset.index = String(i);
    li.textContent = `${b.category}${b.score != null ? " " + b.score.toFixed(2) : ""}${b.track_id ? " #" + b.track_id : ""}` +
      (b.id === null ? " (new)" : "") + (b.deleted ? " (deleted)" : "") + (b.verdict ? ` — ${b.verdict}` : "");
    if (i === S.sel) li.classList.add("sel");
    if (b.verdict) li.classList.add(b.verdict);
    if (b.deleted) li.classList.add("bad");
    li.addEventListener("click", () => select(i));
    frag.appendChild(li);
  });
  listEl.replaceChildren(frag);
}

function showSelection() {
  const b = S.boxes[S.sel];
  if (!b) { selInfo.textContent = "No box selected"; return; }
  const [x, y, z, l, w, h, yaw] = b.box3d;
  selInfo.textContent = `${b.category} x ${x.toFixed(2)} y ${y.toFixed(2)} z ${z.toFixed(2)} · ` +
    `l ${l.toFixed(2)} w ${w.toFixed(2)} h ${h.toFixed(2)} · yaw ${(yaw * 180 / Math.PI).toFixed(1)}°`;
  catEl.value = b.category;
  if (jobType === "verify") $("label-comment").value = b.comment || "";
}

function select(i) {
  S.sel = i;
  body.dataset.selected = i >= 0 && S.boxes[i] ? (S.boxes[i].id || "new") : "";
  syncBoxes();
}

// ---- history -----------------------------------------------------------------------------------------------------
// One undo step holds the current sample's boxes; in a sequence, a step that may reach a whole track (a class or
// size change of a tracked box, track edits, interpolation: wide = true) holds every sample's. At most 300 steps
// and about 64 MB of them.
let historyBytes = 0;
const pushHistory = (wide) => {
  const b = S.boxes[S.sel], all = S.seq && wide && (wide === "all" || (b && b.track_id));
  const text = JSON.stringify(all ? { all: S.seq.samples.map((s) => s.boxes), sel: S.sel }
    : { cur: S.seq ? S.seq.cur : null, boxes: S.boxes, sel: S.sel });
  S.history.push(text);
  historyBytes += text.length;
  while (S.history.length > 1 && (S.history.length > 300 || historyBytes > 64e6)) historyBytes -= S.history.shift().length;
};
S.popHistory = () => { const t = S.history.pop(); if (t) historyBytes -= t.length; };  // a step that changed nothing
function undo() {
  const prev = S.history.pop();
  if (!prev) { setStatus("Nothing to undo"); return; }
  historyBytes -= prev.length;
  const st = JSON.parse(prev);
  if (st.all) { S.seq.samples.forEach((s, i) => { s.boxes = st.all[i]; }); S.boxes = S.seq.samples[S.seq.cur].boxes; }
  else if (S.seq && st.cur !== S.seq.cur) { S.seq.samples[st.cur].boxes = st.boxes; setStatus(`Undone on sample ${st.cur + 1}`); return; }
  else { S.boxes = st.boxes; if (S.seq) S.seq.samples[S.seq.cur].boxes = st.boxes; }
  S.sel = st.sel; syncBoxes(); setStatus("Undone");
}
// a box the worker set by hand, in a sequence: a keyframe; its class and size go to its whole track
function touched(b) {
  if (!S.seq || !b) return;
  b.keyframe = true; b.interpolated = false;
  seqTools.carry(b, false);
}

// ---- editing -----------------------------------------------------------------------------------------------------
function edit(fn) {
  const b = S.boxes[S.sel];
  if (!b || b.deleted || jobType !== "adjust") return false;
  const v = b.box3d.slice();
  fn(v);
  for (const k of [3, 4, 5]) v[k] = Math.max(0.05, v[k]);
  v[6] = wrap(v[6]);
  const nv = v.map((e, k) => round(e, k === 6 ? 5 : 4));
  pushHistory([3, 4, 5].some((k) => nv[k] !== b.box3d[k]));  // a size change reaches the track
  b.box3d = nv;
  touched(b);
  syncBoxes();
  return true;
}

function move(df, dl, dz) {
  edit((v) => { const c = Math.cos(v[6]), s = Math.sin(v[6]); v[0] += c * df - s * dl; v[1] += s * df + c * dl; v[2] += dz; });
}

function fitToPoints() {
  const b = S.boxes[S.sel];
  if (!b || b.deleted || jobType !== "adjust" || !S.points) return;
  const fit = fitBox(S.points, S.count, b.box3d);
  if (!fit.box) { setStatus(`Only ${fit.n} points in the box: not fitted`, "error"); return; }
  edit((w) => { for (let k = 0; k < 6; k++) w[k] = fit.box[k]; });
  setStatus(`Fitted to ${fit.n} points`, "ok");
}

function setVerdict(verdict) {
  const b = S.boxes[S.sel];
  if (!b || jobType !== "verify") return;
  pushHistory();
  b.verdict = verdict;
  const next = S.boxes.findIndex((x, i) => i > S.sel && !x.verdict);
  select(next >= 0 ? next : S.sel);
}

// ---- bird's-eye interaction (task3d_bev.js) -------------------------------------------------------------------
// (set up at the end, once the sequence tools exist)
// ---- keys (task3d_keys.js; bound at the end, once the sequence tools exist) ----------------------------------------

function deleteSel() {
  const b = S.boxes[S.sel];
  if (!b || jobType !== "adjust" || b.deleted) return;
  pushHistory();
  b.deleted = true;
  syncBoxes();
}
function setCategory(cat) {
  const b = S.boxes[S.sel];
  if (!b || jobType !== "adjust") return;
  pushHistory(true); b.category = cat; touched(b); syncBoxes();
}

// ---- answers: one sample's boxes as stored; a sequence's samples all at once (task3d_sequence.js) -----------------
const { boxesFrom, answerOf } = answerTools(jobType);
// Show another sample of the sequence in place: its cameras, its sweep, its boxes.
function showSample(s, buf) {
  S.task.cameras = s.cameras;
  $("frame-id").textContent = s.frame;
  buildCameraViews(S, camsEl, select);
  buildPoints(buf);
  $("npoints").textContent = `${S.count.toLocaleString()} points`;
  select(S.sel);
}
const seqTools = sequenceTools({ S, base, jobType, setStatus, pushHistory, boxesFrom, answerOf, showSample });

async function submit() {
  if (!S.task || S.submitting) return;
  S.submitting = true;
  setStatus("Submitting…");
  try {
    if (S.seq) {
      const data = await seqTools.submitAll();
      if (data) { body.dataset.submitted = "sequence"; S.task.next_task = data.next_task; savedAt = S.history.length; }
      return;
    }
    const r = await fetch(`${base}/api/tasks/${taskId}/response`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(answerOf(S.boxes, $("comment").value)),
    });
    const data = await r.json();
    if (!r.ok) { setStatus(data.error || `HTTP ${r.status}`, "error"); return; }
    body.dataset.submitted = String(data.response);
    savedAt = S.history.length;
    S.task.next_task = data.next_task;
    setStatus("Submitted", "ok");
  } catch (e) { setStatus(String(e), "error"); } finally { S.submitting = false; }
}

// ---- start -------------------------------------------------------------------------------------------------------
async function start() {
  try {
    const r = await fetch(`${base}/api/tasks/${taskId}`, { credentials: "same-origin" });
    if (!r.ok) { setStatus((await r.json()).error || `HTTP ${r.status}`, "error"); return; }
    S.task = await r.json();
    $("frame-id").textContent = S.task.frame.id;
    for (const c of S.task.job.categories) { const o = document.createElement("option"); o.value = c; o.textContent = c; catEl.appendChild(o); }
    S.boxes = boxesFrom(S.task.labels, S.task.previous);
    if (S.task.previous) $("comment").value = S.task.previous.comment || "";
    if (jobType === "verify") { $("verify-tools").hidden = false; for (const id of ["delete", "fit", "draw"]) $(id).hidden = true; }
    if (jobType !== "adjust") for (const id of ["track", "keyframe", "interpolate"]) $(id).hidden = true;
    buildCameraViews(S, camsEl, select);
    syncBoxes();
    let buf;
    if (S.task.sequence) buf = await seqTools.load();
    if (!buf) {
      const pr = await fetch(S.task.points, { credentials: "same-origin" });
      if (!pr.ok) { setStatus(`points: HTTP ${pr.status}`, "error"); return; }
      buf = await pr.arrayBuffer();
    }
    buildPoints(buf);
    syncBoxes();
    $("npoints").textContent = `${S.count.toLocaleString()} points`;
    changed();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      S.readyMs = performance.now();  // since navigation start
      body.dataset.ready = "1";
      setStatus(`${S.boxes.length} boxes · ${S.task.status === "submitted" ? "already submitted (you may resubmit)" : "pending"}`);
    }));
  } catch (e) { setStatus(String(e), "error"); }
}

$("undo").addEventListener("click", undo);
$("delete").addEventListener("click", deleteSel);
$("fit").addEventListener("click", fitToPoints);
$("draw").addEventListener("click", () => { S.drawing = true; setStatus("Drag on the bird's-eye view to draw a box"); });
$("colour").addEventListener("click", () => { S.colourBy = S.colourBy === "height" ? "intensity" : "height"; colourPoints(); });
$("good").addEventListener("click", () => setVerdict("good"));
$("bad").addEventListener("click", () => setVerdict("bad"));
$("label-comment").addEventListener("input", (ev) => { const b = S.boxes[S.sel]; if (b) b.comment = ev.target.value; });
catEl.addEventListener("change", () => setCategory(catEl.value));
$("submit").addEventListener("click", submit);
// Leaving with edits made since the last submit takes a second press (nothing is dropped silently).
let leaveArmed = false, savedAt = 0;
$("next").addEventListener("click", () => {
  if (S.history.length > savedAt && !leaveArmed) {
    leaveArmed = true;
    setStatus("Unsubmitted edits: submit first, or press Next again to leave them", "error");
    return;
  }
  location.href = S.task && S.task.next_task ? `${base}/tasks/${S.task.next_task}` : `${base}/tasks`;
});
bevInteraction({ S, canvas, viewports, select, pushHistory, syncBoxes, changed, setStatus, touched, fitToPoints,
  newTrackId: () => seqTools.newTrackId(), catEl, jobType });
detailInteraction({ S, canvas, viewports, pushHistory, syncBoxes, touched, jobType });
bindKeys({ S, jobType, undo, submit, select, seqTools, syncBoxes, colourPoints, setVerdict, move, edit, fitToPoints,
  setStatus, deleteSel, setCategory, orbit });
new ResizeObserver(() => changed(false)).observe(viewsEl);
requestAnimationFrame(loop);
start();
