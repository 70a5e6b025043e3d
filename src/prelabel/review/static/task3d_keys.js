// The 3D task page's keys (see the help under the tools): select, undo, submit, sequence steps / play / track edits
// / keyframes / interpolation, colouring, verdicts, the orbit view (O); in adjust jobs move / rotate / resize the selected box (0.1 m and
// 2 degrees a press; with Shift 0.02 m and 0.5 degrees), fit, draw, delete, class 1-9. Keys typed into a field, and
// Space / Enter on a focused button, are left alone.
const STEP = 0.1, FINE = 0.02, ROT = Math.PI / 90, FINE_ROT = Math.PI / 360;

export function bindKeys({ S, jobType, undo, submit, select, seqTools, syncBoxes, colourPoints, setVerdict, move, edit,
  fitToPoints, setStatus, deleteSel, setCategory, orbit }) {
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (tag === "BUTTON" && (k === " " || k === "Enter")) return;  // the focused button's own click
    const st = ev.shiftKey ? FINE : STEP, rt = ev.shiftKey ? FINE_ROT : ROT;
    let done = true;
    if ((ev.ctrlKey || ev.metaKey) && k === "z") undo();
    else if (k === "u") undo();
    else if (k === "Enter") submit();
    else if (k === "Tab") { const n = S.boxes.length; if (n) select((S.sel + (ev.shiftKey ? n - 1 : 1) + n) % n); }
    else if (k === "Escape") { S.drawing = false; select(-1); }
    else if (k === "k" && jobType === "adjust") seqTools.applyToTrack();
    else if (k === "m" && jobType === "adjust") seqTools.toggleKeyframe();
    else if (k === "i" && jobType === "adjust") { seqTools.interpolate(); syncBoxes(); }
    else if (k === ",") seqTools.stepSample(-1);
    else if (k === ".") seqTools.stepSample(1);
    else if (k === " ") seqTools.play();
    else if (k === "o") orbit.toggle();
    else if (k === "c") { S.colourBy = S.colourBy === "height" ? "intensity" : "height"; colourPoints(); }
    else if (jobType === "verify" && k === "g") setVerdict("good");
    else if (jobType === "verify" && k === "b") setVerdict("bad");
    else if (jobType !== "adjust") done = false;
    else if (k === "ArrowUp") move(st, 0, 0);
    else if (k === "ArrowDown") move(-st, 0, 0);
    else if (k === "ArrowLeft") move(0, st, 0);
    else if (k === "ArrowRight") move(0, -st, 0);
    else if (k === "PageUp") move(0, 0, st);
    else if (k === "PageDown") move(0, 0, -st);
    else if (k === "q") edit((v) => { v[6] += rt; });
    else if (k === "e") edit((v) => { v[6] -= rt; });
    else if (k === "t") edit((v) => { v[3] += st; });
    else if (k === "g") edit((v) => { v[3] -= st; });
    else if (k === "y") edit((v) => { v[4] += st; });
    else if (k === "h") edit((v) => { v[4] -= st; });
    else if (k === "r") edit((v) => { v[5] += st; });
    else if (k === "f") edit((v) => { v[5] -= st; });
    else if (k === "p") fitToPoints();
    else if (k === "n") { S.drawing = true; setStatus("Drag on the bird's-eye view to draw a box"); }
    else if (k === "Delete" || k === "Backspace") deleteSel();
    else if (/^[1-9]$/.test(k) && S.task.job.categories[Number(k) - 1]) setCategory(S.task.job.categories[Number(k) - 1]);
    else done = false;
    if (done) ev.preventDefault();
  });
}
