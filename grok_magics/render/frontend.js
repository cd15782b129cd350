// grok-magics front end, shipped in the package (no CDN): Copy / Insert buttons on the code blocks of
// answers, and following the stream while the reader is at the bottom. Runs once per page; answers are
// found by their status line (.grok-status), so it keeps working after a reload, without the kernel.
// It is the fallback where the page extension is absent (VS Code, exported HTML, trusted notebooks only).
(() => {
  const me = document.currentScript && document.currentScript.closest(".jp-OutputArea-child, .output_area");
  if (me) me.style.display = "none";  // this output is only a carrier
  // the grok-magics page extension marks the page and draws these buttons itself: stand down (no doubles)
  if (window.__grokMagics || document.body.dataset.grokMagics) return;
  const G = (window.__grokMagics = { following: true, area: null });
  const css = document.createElement("style");
  css.textContent = `
.grok-live{color:var(--jp-ui-font-color2,#888);opacity:.85}
.grok-pre{position:relative}
.grok-tools{position:absolute;top:4px;right:4px;display:flex;gap:4px;opacity:.6}
.grok-pre:hover>.grok-tools{opacity:1}
.grok-tools button{font:11px var(--jp-ui-font-family,sans-serif);padding:1px 6px;cursor:pointer;border-radius:3px;
 color:var(--jp-ui-font-color1,#333);background:var(--jp-layout-color2,#eee);border:1px solid var(--jp-border-color1,#bbb)}`;
  document.head.appendChild(css);

  const flash = (button, text) => {
    const label = button.textContent;
    button.textContent = text;
    setTimeout(() => (button.textContent = label), 1200);
  };
  const copy = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back below */ }
    const area = Object.assign(document.createElement("textarea"), { value: text });
    document.body.appendChild(area); area.select();
    const ok = document.execCommand("copy"); area.remove(); return ok;
  };
  // JupyterLab and Notebook 7 accept cells dropped onto a notebook: a drop below this cell inserts a new,
  // unexecuted code cell there, through the notebook's own model (undo works, nothing runs).
  const insert = (pre, text) => {
    const cell = pre.closest(".jp-Cell"), notebook = pre.closest(".jp-Notebook");
    if (!cell || !notebook) return false;
    let next = cell.nextElementSibling;
    while (next && !next.classList.contains("jp-Cell")) next = next.nextElementSibling;
    const drop = new Event("lm-drop", { bubbles: true, cancelable: true });
    const cells = [{ cell_type: "code", source: text, metadata: {}, outputs: [], execution_count: null }];
    Object.assign(drop, { proposedAction: "copy", dropAction: "none", supportedActions: "copy", source: null,
      mimeData: { hasData: (m) => m === "application/vnd.jupyter.cells", getData: () => cells, types: () => [] } });
    if (next) next.classList.add("jp-mod-dropTarget");  // the notebook inserts before its drop target
    (next || notebook).dispatchEvent(drop);
    if (next) next.classList.remove("jp-mod-dropTarget");
    return drop.defaultPrevented;
  };
  const tools = (pre) => {
    pre.classList.add("grok-pre");
    const bar = document.createElement("div");
    bar.className = "grok-tools";
    const code = () => (pre.querySelector("code") || pre).textContent.replace(/\n$/, "");
    const add = (label, title, done, act) => {
      const b = Object.assign(document.createElement("button"), { textContent: label, title });
      b.addEventListener("click", async (e) => { e.stopPropagation(); flash(b, (await act()) ? done : "Failed"); });
      bar.appendChild(b);
    };
    add("Copy", "Copy this code", "Copied", () => copy(code()));
    const cell = pre.closest(".jp-Cell");  // a live notebook has editors; an nbconvert export has none
    const json = /language-json/.test((pre.querySelector("code") || pre).className);  // tool calls, JSON answers
    if (pre.closest(".jp-Notebook") && cell && cell.querySelector(".cm-editor") && !pre.closest("details") && !json) {
      add("Insert", "Insert as a new cell below (not run)", "Inserted", () => insert(pre, code()));
    }
    pre.appendChild(bar);
  };
  const lastLive = () => { const all = document.querySelectorAll(".grok-live"); return all[all.length - 1]; };
  // the same rules as the page extension's followlogic.ts: following keeps the edge in sight (a pixel for
  // rounding); only the reader's hand (a wheel, key or drag in the last second) stops or resumes it
  const below = (el) => {
    const box = el.closest(".jp-WindowedPanel-outer, .jp-NotebookPanel, body") || document.body;
    const limit = box === document.body ? window.innerHeight : box.getBoundingClientRect().bottom;
    return el.getBoundingClientRect().bottom - Math.min(limit, window.innerHeight);
  };
  const scan = () => {
    for (const status of document.querySelectorAll(".grok-status")) {
      const area = status.closest(".jp-OutputArea, .output") || status.parentElement;
      for (const pre of area.querySelectorAll("pre:not(.grok-pre)")) {
        if (!pre.closest(".jp-RenderedText") && pre.querySelector("code")) tools(pre);
      }
    }
    const live = lastLive();
    const area = live && live.closest(".jp-OutputArea, .output");
    if (area && area !== G.area) { G.area = area; G.following = true; G.hand = null; }  // a new answer: follow it
    if (live && G.following && below(live) > 1) live.scrollIntoView({ block: "end" });
  };
  const hand = (dir) => { G.hand = dir; G.handAt = performance.now(); if (dir === "up") G.following = false; };
  addEventListener("wheel", (e) => { if (e.deltaY) hand(e.deltaY < 0 ? "up" : "down"); }, { passive: true, capture: true });
  addEventListener("keydown", (e) => {  // keys typed into an editor move its cursor, not the page
    if (e.target instanceof Element && e.target.closest("input, textarea, [contenteditable='true'], .cm-editor")) return;
    if (["PageUp", "ArrowUp", "Home"].includes(e.key)) hand("up");
    else if (["PageDown", "ArrowDown", "End", " "].includes(e.key)) hand("down");
  }, true);
  addEventListener("pointerdown", () => hand("drag"), { passive: true, capture: true });
  const tops = new WeakMap();
  addEventListener("scroll", (e) => {  // the reader back down at the edge: follow again; dragged up: stop
    const target = e.target instanceof Element ? e.target : document.scrollingElement;
    if (!target) return;
    const moved = target.scrollTop - (tops.has(target) ? tops.get(target) : target.scrollTop);
    tops.set(target, target.scrollTop);
    const live = lastLive();
    if (!live || performance.now() - (G.handAt || -Infinity) > 1000) return;
    if ((G.hand === "down" || (G.hand === "drag" && moved > 0)) && below(live) <= 48) G.following = true;
    else if (G.hand === "drag" && moved < 0) G.following = false;
  }, { passive: true, capture: true });
  // an answer's final status line ends it: the next one is new even in the same output area (a re-run cell)
  const ends = new WeakSet();
  const mutated = () => {
    const all = G.area ? G.area.querySelectorAll(".grok-status:not(.grok-live)") : [];
    const last = all[all.length - 1];
    if (last && !ends.has(last)) {  // followed to its end: the reader sees how it ended (the status line)
      ends.add(last); G.area = null;
      if (G.following && below(last) > 0) last.scrollIntoView({ block: "end" });
    }
    scan();
  };
  new MutationObserver(mutated).observe(document.body, { childList: true, subtree: true });
  scan();
})();
