// grok-magics front end, shipped in the package (no CDN): Copy / Insert buttons on the code blocks of
// answers, and following the stream while the reader is at the bottom (the page extension's own code).
// Runs once per page; answers are found by their status line (.grok-status), so it keeps working after a
// reload, without the kernel.
// It is the fallback where the page extension is absent (VS Code, exported HTML, trusted notebooks only).
(() => {
  const me = document.currentScript && document.currentScript.closest(".jp-OutputArea-child, .output_area");
  if (me) me.style.display = "none";  // this output is only a carrier
  const mine = me && me.closest(".jp-OutputArea");
  if (mine) mine.classList.add("grok-area");  // an answer streams here: it shows whole (see below)
  // the grok-magics page extension marks the page and draws these buttons itself: stand down (no doubles)
  if (window.__grokMagics || document.body.dataset.grokMagics) return;
  window.__grokMagics = true;
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
  // following a streaming answer: the page extension's own code (src/follow.ts), joined in by frontend.py
  const followStreams = /* FOLLOWING */;
  const scan = () => {
    for (const status of document.querySelectorAll(".grok-status")) {
      const area = status.closest(".jp-OutputArea, .output") || status.parentElement;
      for (const pre of area.querySelectorAll("pre:not(.grok-pre)")) {  // nbconvert's code: div.highlight > pre
        const code = pre.querySelector("code") || pre.parentElement.classList.contains("highlight");
        if (!pre.closest(".jp-RenderedText") && code) tools(pre);
      }
    }
    // an answer streams one output per block: past JupyterLab's 50 outputs "Show more outputs" would hide its
    // end, its live edge and its status line, so that line is pressed at once (as the page extension lifts it)
    for (const more of document.querySelectorAll(".grok-area .jp-TrimmedOutputs")) more.click();
  };
  new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
  scan();
  followStreams();
})();
