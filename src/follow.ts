/**
 * While an answer streams, the view follows its growing edge as long as the reader stays at the bottom,
 * and stops once the reader scrolls up (as chat apps do). What to do is decided in ``followlogic.ts``; this
 * file feeds it the page's events. The script answers carry runs this same code where the extension is
 * absent (compiled with ``jlpm build:fallback``, joined in by ``render/frontend.py``): keep it to plain
 * modules, no template literals, imports only of each other.
 */
import { Direction, Follow, keyDirection, wheelDirection } from './followlogic';

/** The output areas answers stream into: JupyterLab's and Notebook 7's, and classic or exported pages'. */
const AREA = '.jp-OutputArea, .output';

export function followStreams(): void {
  const follow = new Follow();
  let area: Element | null = null;
  const lastLive = (): HTMLElement | undefined => {
    const all = document.querySelectorAll<HTMLElement>('.grok-live');
    return all[all.length - 1];
  };
  // pixels the live edge sits below the fold of the box that scrolls it (or of the window)
  const below = (el: HTMLElement): number => {
    const box = el.closest('.jp-WindowedPanel-outer, .jp-NotebookPanel, body') || document.body;
    const limit = box === document.body ? window.innerHeight : box.getBoundingClientRect().bottom;
    return el.getBoundingClientRect().bottom - Math.min(limit, window.innerHeight);
  };
  let queued = false;
  // resize notes come after layout and before paint: following from there, the reader never sees a frame
  // with the edge below the fold (a frame later, from requestAnimationFrame, they would)
  const resized = new ResizeObserver(() => check());
  const check = (): void => {
    queued = false;
    const live = lastLive();
    const liveArea = live?.closest(AREA) ?? null;
    if (liveArea && follow.streaming(liveArea)) {
      area = liveArea;
      resized.disconnect();
      resized.observe(liveArea); // typeset math or a new row grows the area without new nodes
    }
    // an agent step waiting for its buttons was brought into sight by agent.ts: following would push it away
    const asks = (live?.closest('.jp-NotebookPanel') ?? document).querySelector('.grok-agent-bar') !== null;
    if (live && follow.shouldScroll(below(live), asks)) {
      live.scrollIntoView({ block: 'end' });
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
  const scrolls = (el: Element): boolean =>
    el === document.scrollingElement || /auto|scroll|overlay/.test(getComputedStyle(el).overflowY);
  // how far a wheel or key on ``target`` can move the answer: the boxes it would scroll are its own and its
  // ancestors, and of those only the ones holding the answer move it (a wheel over another panel moves nothing)
  const room = (target: EventTarget | null, direction: Direction): number => {
    const answer = lastLive() ?? area; // between two blocks the live edge is briefly gone; its area is not
    let total = answer ? 0 : Infinity;
    for (let el = target instanceof Element ? target : document.scrollingElement; answer && el; el = el.parentElement) {
      if (el.contains(answer) && scrolls(el)) {
        total += direction === 'up' ? el.scrollTop : el.scrollHeight - el.clientHeight - el.scrollTop;
      }
    }
    return total;
  };
  const reader = (direction: Direction | null, target: EventTarget | null): void => {
    if (direction) {
      follow.reader(direction, performance.now(), room(target, direction));
    }
  };
  addEventListener('wheel', e => reader(wheelDirection(e.deltaY), e.target), listen);
  // keys typed into an editor move its cursor, not the page
  addEventListener('keydown', e => reader(typing(e.target) ? null : keyDirection(e.key), e.target), true);
  addEventListener('pointerdown', () => follow.pressed(performance.now()), listen);
  const tops = new WeakMap<EventTarget, number>();
  addEventListener('scroll', e => {
    const target = e.target instanceof Element ? e.target : document.scrollingElement;
    if (!target) {
      return;
    }
    const moved = target.scrollTop - (tops.get(target) ?? target.scrollTop);
    tops.set(target, target.scrollTop);
    const live = lastLive();
    if (!live || !target.contains(live)) {
      return; // another panel scrolled: the answer did not move
    }
    follow.scrolled(moved, below(live), performance.now());
    schedule(); // the reader went back down: follow from here
  }, listen);
  // an answer's final status line ends it (its live edge also goes away between two of its blocks)
  const ends = new WeakSet<Element>();
  const mutated = (): void => {
    const all = area?.querySelectorAll('.grok-status:not(.grok-live)');
    const last = all?.[all.length - 1];
    if (last && !ends.has(last)) {
      ends.add(last);
      if (follow.ended() && below(last as HTMLElement) > 0) {
        (last as HTMLElement).scrollIntoView({ block: 'end' });
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
