/**
 * Whether the view follows a streaming answer, decided without a page (node-tested); ``follow.ts`` feeds it
 * the page's events. Only the reader changes it: a wheel, key or scroll-bar drag up stops following, and going
 * back down to the live edge resumes it. Scroll events alone never decide: they may be ours (we scroll to the
 * edge), the browser's (scroll anchoring, an output folding into a scroll box) or the reader's first steps up
 * while the edge is still near — and on a busy machine they arrive late.
 */

/** Following keeps the live edge this close to the fold: a pixel, for sub-pixel boxes. */
export const IN_SIGHT = 1;
/** A reader who goes back down within this many pixels of the edge resumes following. */
export const NEAR = 48;
/** How long a press, wheel or key counts as the reader's hand behind the scroll events that follow it. */
export const HAND_MS = 1000;

/** ``end``: the reader asked for the end (the End key below the last answer): follow it, wherever the view is. */
export type Direction = 'up' | 'down' | 'end';

const UP_KEYS = ['PageUp', 'ArrowUp', 'Home'];
const DOWN_KEYS = ['PageDown', 'ArrowDown', ' '];

/** The direction a key moves the view, if it moves it. */
export function keyDirection(key: string): Direction | null {
  return UP_KEYS.includes(key) ? 'up' : DOWN_KEYS.includes(key) ? 'down' : key === 'End' ? 'end' : null;
}

/** The direction a wheel turn moves the view, if it moves it vertically. */
export function wheelDirection(deltaY: number): Direction | null {
  return deltaY < 0 ? 'up' : deltaY > 0 ? 'down' : null;
}

export class Follow {
  following = true;
  private answer: unknown = null;
  private hand: 'up' | 'down' | 'drag' | null = null;
  private handAt = -Infinity;
  private toEnd = false; // the reader pressed End: the edge is kept at the fold, brought down from above too

  /** A live answer is on the page (``answer``: where it streams): a new one is followed from its start.
   * Whether it is new. */
  streaming(answer: unknown): boolean {
    if (answer === this.answer) {
      return false;
    }
    this.answer = answer;
    this.following = true;
    this.hand = null;
    this.toEnd = false;
    return true;
  }

  /** The answer ended (its final status line is drawn): the next one is new even where this one was (a
   * re-run cell streams into the same output area), and is followed whatever the reader did here. Whether to
   * bring the end into sight. */
  ended(): boolean {
    this.answer = null;
    return this.following; // a reader who followed it sees how it ended (its status line: tokens, cost)
  }

  /** The reader turned the wheel or pressed a key that moves the view, which can still move ``room`` pixels
   * that way (a wheel up where the view is already at its top, or over another panel, moves nothing: the
   * reader has not left the edge, and a short answer that grows later is still followed). */
  reader(direction: Direction, now: number, room = Infinity): void {
    if (room <= 0 && direction !== 'end') {
      return;
    }
    this.hand = direction === 'end' ? 'down' : direction;
    this.handAt = now;
    this.toEnd = direction === 'end';
    if (direction !== 'down') {
      this.following = direction === 'end';
    }
  }

  /** The reader pressed a pointer (on a scroll bar, perhaps: what scrolls next is a drag). */
  pressed(now: number): void {
    this.hand = 'drag';
    this.handAt = now;
    this.toEnd = false;
  }

  /** The view scrolled: ``moved`` pixels (negative: up), the live edge ``below`` pixels under the fold;
   * ``atEnd``: the box that scrolled reached its end (the reader came back down, though a box inside it, such
   * as Notebook 7's scroll box for a long output, may still hold the edge out of sight). */
  scrolled(moved: number, below: number, now: number, atEnd = false): void {
    if (now - this.handAt > HAND_MS) {
      return; // not the reader's: ours, the browser's, or the layout's
    }
    const goingDown = this.hand === 'down' || (this.hand === 'drag' && moved > 0);
    if (goingDown && (below <= NEAR || atEnd)) {
      this.following = true;
    } else if (this.hand === 'drag' && moved < 0) {
      this.following = false;
    }
  }

  /** Whether to bring the live edge, ``below`` pixels under the fold, to the fold now. From above it only
   * after End (JupyterLab scrolls past the last cell, leaving the edge high up or out of sight over an empty
   * page): a reader who went down past the answer by hand is not pulled back. Not while the page ``asks`` the
   * reader something (an agent step's Run / Skip / Stop): the view is theirs until they answer. */
  shouldScroll(below: number, asks = false): boolean {
    return this.following && !asks && (below > IN_SIGHT || (this.toEnd && below < -IN_SIGHT));
  }
}
