/**
 * While an answer streams, the view follows its growing edge as long as the reader stays at the bottom,
 * and stops once the reader scrolls up (as chat apps do). The script answers ship does this where the
 * extension is absent; here the extension does it, and that script stands down.
 */
export function followStreams(): void {
  let following = true;
  let area: Element | null = null;
  let autoAt = 0;
  const lastLive = (): HTMLElement | undefined => {
    const all = document.querySelectorAll<HTMLElement>('.grok-live');
    return all[all.length - 1];
  };
  // How far below the fold the live edge may sit: following keeps it in sight (a pixel for rounding);
  // a reader who scrolls back near the bottom (within a few lines) resumes following.
  const IN_SIGHT = 1;
  const NEAR = 48;
  const below = (el: HTMLElement): number => {
    const box = el.closest('.jp-WindowedPanel-outer, .jp-NotebookPanel, body') || document.body;
    const limit = box === document.body ? window.innerHeight : box.getBoundingClientRect().bottom;
    return el.getBoundingClientRect().bottom - Math.min(limit, window.innerHeight);
  };
  let queued = false;
  const resized = new ResizeObserver(() => schedule());
  const check = (): void => {
    queued = false;
    const live = lastLive();
    const liveArea = live?.closest('.jp-OutputArea') ?? null;
    if (liveArea && liveArea !== area) {
      area = liveArea; // a new answer: follow it
      following = true;
      resized.disconnect();
      resized.observe(liveArea); // typeset math or a new row grows the area without new nodes
    }
    if (live && following && below(live) > IN_SIGHT) {
      autoAt = performance.now();
      live.scrollIntoView({ block: 'end' });
    }
  };
  const stop = (): void => {
    following = false;
  };
  // only the reader stops following: a wheel or key up, or a drag of a scroll bar (a scroll soon after a
  // press). Scroll events alone may be ours or the page's, and arrive late on a busy machine.
  let pressedAt = -Infinity;
  addEventListener('wheel', e => e.deltaY < 0 && stop(), { passive: true, capture: true });
  addEventListener('keydown', e => ['PageUp', 'ArrowUp', 'Home'].includes(e.key) && stop(), true);
  addEventListener('pointerdown', () => (pressedAt = performance.now()), { passive: true, capture: true });
  addEventListener('scroll', () => {
    const live = lastLive();
    if (live && below(live) <= NEAR) {
      following = true;
    } else if (live && performance.now() - pressedAt < 1000 && performance.now() - autoAt > 200) {
      stop();
    }
  }, { passive: true, capture: true });
  const schedule = (): void => {
    if (!queued && document.querySelector('.grok-live')) {
      queued = true;
      requestAnimationFrame(check);
    }
  };
  new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
  // the layout also moves without new nodes (typeset math, an output area turning into a scroll box, a
  // class change): the live area's size is watched, and while an answer streams the view looks again a few
  // times a second for what moves around it
  setInterval(schedule, 250);
}
