/**
 * While an answer streams, the view follows its growing edge as long as the reader stays at the bottom,
 * and stops once the reader scrolls up (as chat apps do). What to do is decided in ``followlogic.ts``; this
 * file feeds it the page's events. Each notebook follows on its own (a split view streams two answers at
 * once, each read by its own reader's hand). The script answers carry runs this same code where the extension
 * is absent (compiled with ``jlpm build:fallback``, joined in by ``render/frontend.py``): keep it to plain
 * modules, no template literals, imports only of each other.
 */
import { Direction, Follow, keyDirection, wheelDirection } from './followlogic';

/** The output areas answers stream into: JupyterLab's and Notebook 7's, and classic or exported pages'. */
const AREA = '.jp-OutputArea, .output';
/** What a notebook is on the page; a page without one (an exported notebook) is one notebook. */
const NOTEBOOK = '.jp-NotebookPanel';

/** One notebook's latest answer: whether it is followed, and where it streams. */
interface Stream {
  follow: Follow;
  area: Element | null;
}

function scrolls(el: Element): boolean {
  return el === document.scrollingElement || /auto|scroll|overlay/.test(getComputedStyle(el).overflowY);
}

/** Pixels an element's bottom sits below the fold of the tightest box showing it: every box that scrolls or
 * clips it (Notebook 7 turns a long output into a scroll box of its own), and the window. */
export function belowFold(el: Element): number {
  let fold = window.innerHeight;
  for (let box = el.parentElement; box; box = box.parentElement) {
    if (box !== document.scrollingElement && box !== document.body && getComputedStyle(box).overflowY !== 'visible') {
      fold = Math.min(fold, box.getBoundingClientRect().top + box.clientHeight);
    }
  }
  return el.getBoundingClientRect().bottom - fold;
}

export function followStreams(): void {
  const streams = new Map<Element, Stream>();
  const notebookOf = (el: Element): Element => el.closest(NOTEBOOK) ?? document.body;
  const streamOf = (notebook: Element): Stream => {
    let stream = streams.get(notebook);
    if (!stream) {
      stream = { follow: new Follow(), area: null };
      streams.set(notebook, stream);
    }
    return stream;
  };
  // each notebook's live edge: the last one in it (an answer streams at its end)
  const lives = (): Map<Element, HTMLElement> => {
    const found = new Map<Element, HTMLElement>();
    document.querySelectorAll<HTMLElement>('.grok-live').forEach(live => found.set(notebookOf(live), live));
    return found;
  };
  let queued = false;
  // resize notes come after layout and before paint: following from there, the reader never sees a frame
  // with the edge below the fold (a frame later, from requestAnimationFrame, they would)
  const resized = new ResizeObserver(() => check());
  const check = (): void => {
    queued = false;
    for (const [notebook, live] of lives()) {
      const stream = streamOf(notebook);
      const area = live.closest(AREA);
      if (area && stream.follow.streaming(area)) {
        if (stream.area) {
          resized.unobserve(stream.area);
        }
        stream.area = area;
        resized.observe(area); // typeset math or a new row grows the area without new nodes
      }
      // an agent step waiting for its buttons was brought into sight by agent.ts: following would push it away
      const asks = notebook.querySelector('.grok-agent-bar') !== null;
      if (stream.follow.shouldScroll(belowFold(live), asks)) {
        live.scrollIntoView({ block: 'end' });
      }
    }
  };
  const schedule = (): void => {
    if (!queued && document.querySelector('.grok-live')) {
      queued = true;
      requestAnimationFrame(check);
    }
  };
  const listen = { passive: true, capture: true };
  const typing = (target: EventTarget | null): boolean =>
    target instanceof Element && target.closest('input, textarea, [contenteditable="true"], .cm-editor') !== null;
  // where each box was before the reader's wheel: a passive wheel listener runs after the browser scrolled
  // (a notch that reached the end would read as one that moved nothing), and its scroll event comes later
  const tops = new WeakMap<EventTarget, number>();
  // how far a wheel or key on ``target`` can move the answer: the boxes it would scroll are its own and its
  // ancestors, and of those only the ones holding the answer move it
  const room = (target: Element, answer: Element, direction: Direction): number => {
    let total = 0;
    for (let el: Element | null = target; el; el = el.parentElement) {
      if (el.contains(answer) && scrolls(el)) {
        const top = tops.get(el) ?? el.scrollTop;
        total += direction === 'up' ? top : el.scrollHeight - el.clientHeight - top;
      }
    }
    return total;
  };
  // End below a notebook's last answer is a request for that answer's end; elsewhere it is a way down. The
  // empty cell that run-and-advance adds below a run cell does not count.
  const isLast = (answer: Element): boolean => {
    for (let cell = answer.closest('.jp-Cell')?.nextElementSibling; cell; cell = cell.nextElementSibling) {
      const empty = !cell.querySelector('.jp-OutputArea-child') && !cell.querySelector('.cm-content')?.textContent?.trim();
      if (cell.classList.contains('jp-Cell') && !empty) {
        return false;
      }
    }
    return true;
  };
  const reader = (direction: Direction | null, target: EventTarget | null): void => {
    const at = target instanceof Element ? target : document.scrollingElement;
    const notebook = at ? notebookOf(at) : null;
    const stream = direction && notebook ? streams.get(notebook) : undefined; // another panel: no notebook's
    if (!direction || !at || !notebook || !stream) {
      return;
    }
    const answer = lives().get(notebook) ?? stream.area; // between two blocks the live edge is gone
    if (direction === 'end' && answer && !isLast(answer)) {
      direction = 'down';
    }
    stream.follow.reader(direction, performance.now(), answer ? room(at, answer, direction) : Infinity);
  };
  addEventListener('wheel', e => reader(wheelDirection(e.deltaY), e.target), listen);
  // keys typed into an editor move its cursor, not the page
  addEventListener('keydown', e => reader(typing(e.target) ? null : keyDirection(e.key), e.target), true);
  // a press on a scroll bar: what scrolls next is the reader's drag (a click in a cell is no drag, though the
  // page may scroll right after it: run-and-advance brings the next cell into view)
  const onScrollBar = (e: PointerEvent): boolean => {
    const el = e.target instanceof Element ? e.target : null;
    if (!el) {
      return false;
    }
    const box = el.getBoundingClientRect();
    return e.clientX >= box.left + el.clientLeft + el.clientWidth || e.clientY >= box.top + el.clientTop + el.clientHeight;
  };
  addEventListener('pointerdown', e => {
    const at = e.target instanceof Element ? e.target : null;
    if (at && onScrollBar(e)) {
      streams.get(notebookOf(at))?.follow.pressed(performance.now());
    }
  }, listen);
  addEventListener('scroll', e => {
    const target = e.target instanceof Element ? e.target : document.scrollingElement;
    if (!target) {
      return;
    }
    const moved = target.scrollTop - (tops.get(target) ?? target.scrollTop);
    tops.set(target, target.scrollTop);
    const notebook = notebookOf(target); // the page's own scroller is the body's notebook
    const live = lives().get(notebook);
    if (!live || !target.contains(live)) {
      return; // another panel scrolled: the answer did not move
    }
    const atEnd = target.scrollHeight - target.clientHeight - target.scrollTop <= 1;
    streams.get(notebook)?.follow.scrolled(moved, belowFold(live), performance.now(), atEnd);
    schedule(); // the reader went back down: follow from here
  }, listen);
  // an answer's final status line ends it (its live edge also goes away between two of its blocks)
  const ends = new WeakSet<Element>();
  const mutated = (): void => {
    for (const [notebook, stream] of streams) {
      if (!notebook.isConnected) {
        streams.delete(notebook); // a closed notebook
        continue;
      }
      const all = stream.area?.querySelectorAll('.grok-status:not(.grok-live)');
      const last = all?.[all.length - 1];
      if (last && !ends.has(last)) {
        ends.add(last);
        if (stream.follow.ended() && belowFold(last) > 0) {
          last.scrollIntoView({ block: 'end' });
        }
      }
    }
    schedule();
  };
  new MutationObserver(mutated).observe(document.body, { childList: true, subtree: true });
  // the layout also moves without new nodes (typeset math, an output area turning into a scroll box, a
  // class change): the live area's size is watched, and while an answer streams the view looks again a few
  // times a second for what moves around it
  setInterval(schedule, 250);
}
