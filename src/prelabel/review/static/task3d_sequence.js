// Sequences on the 3D task page: step to the worker's task on the sample before / after (unsubmitted edits need a
// second press), and track-wide edits: a tracked box's class and size, kept in the tab's session storage and applied
// to the same track's boxes on the other samples the worker opens (before any earlier answer; undoable).
export function sequenceTools({ S, base, jobType, setStatus, pushHistory }) {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  // ---- sequence: step to the worker's task on the sample before / after (unsubmitted edits need a second press) --
  let leaveArmed = false;
  function stepSample(dir) {
    const seq = S.task && S.task.sequence;
    const target = seq && (dir < 0 ? seq.prev_task : seq.next_task);
    if (!target) { setStatus(dir < 0 ? "First sample of the sequence" : "Last sample of the sequence"); return; }
    if (S.history.length && !body.dataset.submitted && !leaveArmed) {
      leaveArmed = true;
      setStatus("Unsubmitted edits: submit first, or press again to leave them", "error");
      return;
    }
    location.href = `${base}/tasks/${target}`;
  }
  function showSequence() {
    const seq = S.task.sequence;
    if (!seq) return;
    $("seq-tools").hidden = false;
    $("seq-pos").textContent = `${seq.position + 1} / ${seq.length} · ${seq.name}`;
    $("prev-sample").disabled = !seq.prev_task;
    $("next-sample").disabled = !seq.next_task;
  }
  $("prev-sample").addEventListener("click", () => stepSample(-1));
  $("next-sample").addEventListener("click", () => stepSample(1));
  
  // ---- track-wide edits: a tracked box's class and size, carried to its boxes on the other samples this worker opens
  const trackKey = () => `prelabel3d:${S.task.job.name}:${S.task.sequence ? S.task.sequence.name : ""}`;
  function trackEdits() {
    try { return JSON.parse(sessionStorage.getItem(trackKey()) || "{}"); } catch (e) { return {}; }
  }
  function applyToTrack() {
    const b = S.boxes[S.sel];
    if (!b || b.deleted || !b.track_id || jobType !== "adjust" || !S.task.sequence) {
      setStatus("Select a box with a track id, in a sequence", "error"); return;
    }
    const all = trackEdits();
    all[b.track_id] = { category: b.category, size: b.box3d.slice(3, 6) };
    sessionStorage.setItem(trackKey(), JSON.stringify(all));
    setStatus(`Track ${b.track_id}: this class and size apply to its boxes on the other samples you open`, "ok");
  }
  function applyTrackEdits() {
    const all = trackEdits(), hits = S.boxes.filter((b) => b.track_id && all[b.track_id] &&
      S.task.job.categories.includes(all[b.track_id].category));
    if (!hits.length) return;
    pushHistory();
    for (const b of hits) {
      const e = all[b.track_id];
      b.category = e.category;
      b.box3d = [...b.box3d.slice(0, 3), ...e.size, b.box3d[6]];
    }
    setStatus(`Track edits applied to ${hits.length} box${hits.length > 1 ? "es" : ""} (undo reverts them)`, "ok");
  }
  $("track").addEventListener("click", applyToTrack);
  return { stepSample, showSequence, applyToTrack, applyTrackEdits };
}
