// prelabel review: what every task page reads from the page the server rendered, and the helpers they all share.

// where the portal is mounted, the task and the job type (the body's data attributes) and the session's CSRF token
export function pageData() {
  const data = document.body.dataset;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  return { base: data.base || "", taskId: data.task, jobType: data.type, csrf };
}

// a colour per class, by its place in the job's class list
export const PALETTE = ["#ff595e", "#ffca3a", "#8ac926", "#1982c4", "#6a4c93", "#ff924c", "#52a675", "#4267ac",
  "#c5ca30", "#b5a6c9", "#f15bb5", "#00bbf9"];
export const classColour = (categories, cat) => PALETTE[Math.max(0, categories.indexOf(cat)) % PALETTE.length];

// setStatus(message, class) for the page's status line (text only)
export const statusSetter = (el) => (msg, cls) => { el.textContent = msg; el.className = "status " + (cls || ""); };
