// The camera strip of the 3D task page: every camera image with all boxes projected, the selected one in white;
// a click on a projected box selects it. The last projected rectangles stay in S.proj (camera -> box -> rect)
// and, for the selected box, in each canvas's data-proj attribute.
import { projectBox } from "./task3d_geometry.js";

export function drawCameraViews(S, colour) {
  S.proj = {};
  for (const cv of S.camViews || []) {
    const { cam, canvas: c, img } = cv, g = c.getContext("2d"), k = c.width / (cam.width || img.naturalWidth);
    g.setTransform(1, 0, 0, 1, 0, 0);
    if (img.complete && img.naturalWidth) g.drawImage(img, 0, 0, c.width, c.height);
    else { g.fillStyle = "#222"; g.fillRect(0, 0, c.width, c.height); }
    g.setTransform(k, 0, 0, k, 0, 0);
    const proj = {};
    S.boxes.forEach((b, i) => {
      if (b.deleted) return;
      const p = projectBox(cam, b.box3d);
      if (!p) return;
      proj[i] = p.rect;
      const sel = i === S.sel;
      g.lineWidth = (sel ? 3 : 1.5) / k;
      g.strokeStyle = sel ? "#ffffff" : colour(b.category);
      g.beginPath();
      for (const [a, e] of p.segs) { g.moveTo(a[0], a[1]); g.lineTo(e[0], e[1]); }
      g.stroke();
    });
    S.proj[cam.name] = proj;
    c.dataset.proj = JSON.stringify(S.sel in proj ? proj[S.sel] : null);
  }
}

export function buildCameraViews(S, camsEl, select) {
  S.camViews = [];
  const frag = document.createDocumentFragment();
  for (const cam of S.task.cameras) {
    const fig = document.createElement("figure"), c = document.createElement("canvas"), cap = document.createElement("figcaption");
    cap.textContent = cam.name;
    c.width = 320; c.height = Math.round(320 * (cam.height || 900) / (cam.width || 1600));
    c.dataset.camera = cam.name;
    fig.append(c, cap); frag.appendChild(fig);
    const img = new Image();
    img.addEventListener("load", () => {
      if (!cam.width) {  // a camera without its size (a Ground Truth manifest gives none): the image's own
        cam.width = img.naturalWidth; cam.height = img.naturalHeight;
        c.height = Math.round(320 * cam.height / cam.width);
      }
      S.camsDirty = true; S.dirty = true;
    });
    img.src = cam.image;
    const view = { cam, canvas: c, img };
    c.addEventListener("click", (ev) => {
      const r = c.getBoundingClientRect(), k = (cam.width || 1600) / r.width;
      const u = (ev.clientX - r.left) * k, v = (ev.clientY - r.top) * k, proj = S.proj[cam.name] || {};
      let best = -1, area = Infinity;
      for (const [i, q] of Object.entries(proj)) {
        const a = (q[2] - q[0]) * (q[3] - q[1]);
        if (u >= q[0] && u <= q[2] && v >= q[1] && v <= q[3] && a < area) { best = Number(i); area = a; }
      }
      if (best >= 0) select(best);
    });
    S.camViews.push(view);
  }
  camsEl.replaceChildren(frag);
}
