// Answers of the 3D task page: a sample's boxes from its pre-labels and the worker's last answer, and back into the
// answer the server stores (tasks3d.validate_response3d): adjust {boxes: [{id, category, box3d, track_id,
// keyframe?, interpolated?}], comment}; verify {verdicts: [{id, verdict, comment}], comment}.
export function answerTools(jobType) {
  function boxesFrom(labels, prev) {
    let boxes = labels.map((lb) => ({ id: lb.id, category: lb.category, score: lb.score, track_id: lb.track_id, box3d: lb.box3d.slice() }));
    if (prev && jobType === "adjust" && Array.isArray(prev.boxes)) {
      const by = new Map(boxes.map((b) => [b.id, b]));
      boxes = prev.boxes.map((b) => ({ ...(by.get(b.id) || { score: null }), id: b.id, category: b.category, track_id: b.track_id,
        box3d: b.box3d.slice(), keyframe: !!b.keyframe, interpolated: !!b.interpolated }));
      for (const b of by.values()) if (!prev.boxes.some((p) => p.id === b.id)) boxes.push({ ...b, deleted: true });
    } else if (prev && jobType === "verify" && Array.isArray(prev.verdicts)) {
      const v = new Map(prev.verdicts.map((x) => [x.id, x]));
      boxes.forEach((b) => { const x = v.get(b.id); if (x) { b.verdict = x.verdict; b.comment = x.comment; } });
    }
    return boxes;
  }
  function answerOf(boxes, comment) {
    if (jobType === "verify") {
      return { comment, verdicts: boxes.map((b) => ({ id: b.id, verdict: b.verdict || "good", comment: b.comment || "" })) };
    }
    return { comment, boxes: boxes.filter((b) => !b.deleted).map((b) => ({ id: b.id, category: b.category, box3d: b.box3d,
      track_id: b.track_id || null, ...(b.keyframe ? { keyframe: true } : {}), ...(b.interpolated ? { interpolated: true } : {}) })) };
  }
  return { boxesFrom, answerOf };
}
