// The orbit view of the 3D task page: the bird's-eye viewport as a perspective view around the selected box (or the
// middle of the bird's-eye view), for seeing boxes and points in depth. O (or the button) toggles it; in it a drag
// orbits (left / right turns about up, up / down tilts), the wheel moves closer or further. It only looks: boxes are
// edited with keys, in the top / side / back views, or back in the bird's-eye view.
import * as THREE from "./vendor/three/three.module.js";

export function orbitView({ S, canvas, viewports, changed, pointsLayer }) {
  const cam = new THREE.PerspectiveCamera(50, 1, 0.3, 2000);
  cam.up.set(0, 0, 1);
  cam.layers.set(0);
  cam.layers.enable(pointsLayer);
  const o = { az: Math.PI, el: 0.45, dist: 35 };  // from behind (-x) and above, looking forward
  S.orbitState = o;
  S.orbit = false;
  let drag = null;

  function place(vp) {
    const b = S.boxes[S.sel], t = b && !b.deleted ? b.box3d : [S.bev.cx, S.bev.cy, 0];
    cam.aspect = vp.w / Math.max(1, vp.h);
    cam.updateProjectionMatrix();
    const r = o.dist * Math.cos(o.el);
    cam.position.set(t[0] + r * Math.cos(o.az), t[1] + r * Math.sin(o.az), t[2] + o.dist * Math.sin(o.el));
    cam.lookAt(t[0], t[1], t[2]);
    return cam;
  }
  const inView = (ev) => ev.clientX - canvas.getBoundingClientRect().left < viewports().bev.w;
  // capture listeners: in the orbit view the bird's-eye editing never sees these pointer events
  canvas.addEventListener("pointerdown", (ev) => {
    if (!S.orbit || !inView(ev)) return;
    ev.stopImmediatePropagation();
    canvas.focus();
    canvas.setPointerCapture(ev.pointerId);
    drag = { x: ev.clientX, y: ev.clientY };
  }, true);
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    ev.stopImmediatePropagation();
    o.az -= (ev.clientX - drag.x) * 0.01;
    o.el = Math.min(1.5, Math.max(0.02, o.el + (ev.clientY - drag.y) * 0.01));
    drag = { x: ev.clientX, y: ev.clientY };
    changed(false);
  }, true);
  canvas.addEventListener("pointerup", (ev) => { if (drag) { ev.stopImmediatePropagation(); drag = null; } }, true);
  canvas.addEventListener("wheel", (ev) => {
    if (!S.orbit) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    o.dist = Math.min(500, Math.max(3, o.dist * (ev.deltaY > 0 ? 1.15 : 1 / 1.15)));
    changed(false);
  }, { capture: true, passive: false });

  function toggle() {
    S.orbit = !S.orbit;
    document.getElementById("orbit").textContent = S.orbit ? "Bird's-eye view" : "Orbit view";
    document.querySelector("#view-names .vn-bev").textContent = S.orbit ? "Orbit (drag: turn, wheel: zoom)" : "Bird's-eye";
    changed(false);
  }
  document.getElementById("orbit").addEventListener("click", toggle);
  return { place, toggle };
}
