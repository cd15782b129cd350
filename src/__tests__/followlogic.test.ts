// Node's own test runner on when the view follows a streaming answer (jlpm test).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Follow, HAND_MS, IN_SIGHT, NEAR, keyDirection, wheelDirection } from '../followlogic';

test('a new answer is followed: the edge is brought back once it passes the fold by more than a pixel', () => {
  const follow = new Follow();
  follow.streaming('a');
  assert.equal(follow.shouldScroll(IN_SIGHT), false);
  assert.equal(follow.shouldScroll(IN_SIGHT + 0.5), true);
  assert.equal(follow.shouldScroll(-300), false);
});

test('a wheel or key up stops following; the scroll events it causes do not resume it near the edge', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.reader('up', 1000);
  assert.equal(follow.following, false);
  follow.scrolled(-30, 30, 1010); // the reader's first steps up, the edge still within NEAR
  follow.scrolled(-30, 0, 1020);
  assert.equal(follow.following, false);
  assert.equal(follow.shouldScroll(500), false);
});

test('going back down to the edge resumes following; going down far from it does not yet', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.reader('up', 0);
  follow.reader('down', 5000);
  follow.scrolled(100, NEAR + 200, 5010);
  assert.equal(follow.following, false);
  follow.scrolled(100, NEAR, 5100);
  assert.equal(follow.following, true);
});

test('scroll events without the reader\'s hand change nothing (ours, the browser\'s, or late ones)', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.scrolled(-400, 900, 10);
  assert.equal(follow.following, true);
  follow.reader('up', 100);
  follow.reader('down', 200);
  follow.scrolled(50, 0, 200 + HAND_MS + 1); // a late event: the hand is gone
  assert.equal(follow.following, false);
});

test('the reader back at the end of the box they scrolled resumes following, though a box inside hides the edge', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.pressed(0);
  follow.scrolled(-300, 900, 10);
  assert.equal(follow.following, false);
  follow.pressed(2000);
  follow.scrolled(300, 2500, 2010); // the page is back at its bottom; the output's own scroll box is not
  assert.equal(follow.following, false, 'not at the end yet');
  follow.scrolled(40, 2500, 2020, true);
  assert.equal(follow.following, true);
});

test('a scroll bar dragged up stops following, dragged back down to the edge resumes it', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.pressed(0);
  follow.scrolled(0, 0, 10); // the first event of a drag has nothing to compare with
  follow.scrolled(40, 0, 20); // our own scroll down right after a click elsewhere
  assert.equal(follow.following, true);
  follow.scrolled(-80, 80, 30);
  assert.equal(follow.following, false);
  follow.pressed(2000);
  follow.scrolled(60, 20, 2050);
  assert.equal(follow.following, true);
});

test('the next answer is followed again, whatever the reader did in the last one', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.reader('up', 0);
  assert.equal(follow.streaming('a'), false);
  assert.equal(follow.following, false, 'the same answer keeps the reader\'s choice');
  assert.equal(follow.streaming('b'), true);
  assert.equal(follow.following, true);
});

test('while the page asks the reader (an agent step\'s buttons), the view is not moved', () => {
  const follow = new Follow();
  follow.streaming('agent');
  assert.equal(follow.shouldScroll(300, true), false);
  assert.equal(follow.shouldScroll(300, false), true);
});

test('an answer that ended makes the next one new, even where it streamed (a re-run cell)', () => {
  const follow = new Follow();
  assert.equal(follow.streaming('area'), true);
  follow.reader('up', 0);
  assert.equal(follow.streaming('area'), false);
  assert.equal(follow.following, false);
  assert.equal(follow.ended(), false, 'the reader was up in it: the end is not brought into sight');
  assert.equal(follow.streaming('area'), true);
  assert.equal(follow.ended(), true, 'followed to its end: its status line is brought into sight');
  assert.equal(follow.following, true);
});

test('a wheel or key up where the view cannot move (at its top, or over another panel) leaves following on', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.reader('up', 0, 0);
  assert.equal(follow.following, true);
  follow.scrolled(-20, 0, 10); // a scroll elsewhere (another panel) right after it: not the reader leaving
  assert.equal(follow.following, true);
  follow.reader('up', 20, 1);
  assert.equal(follow.following, false, 'a pixel to go is a move away from the edge');
});

test('End follows the answer again, even when it took the view past the edge; going down by hand does not', () => {
  const follow = new Follow();
  follow.streaming('a');
  follow.reader('up', 0);
  follow.reader('down', 5000);
  follow.scrolled(900, -600, 5010); // wheeled down past the answer, to the cells below it
  assert.equal(follow.following, true, 'the edge is near (above): following resumes');
  assert.equal(follow.shouldScroll(-600), false, 'but the reader is not pulled back up');
  follow.reader('end', 9000, 0); // End at the bottom already: JupyterLab scrolled past the last cell
  assert.equal(follow.following, true);
  assert.equal(follow.shouldScroll(-600), true, 'the edge is brought down to the fold from high up');
  assert.equal(follow.shouldScroll(-IN_SIGHT), false, 'at the fold: nothing to do');
  assert.equal(follow.shouldScroll(-600, true), false, 'not while the page asks the reader');
  follow.reader('down', 9500);
  assert.equal(follow.shouldScroll(-600), false, 'a hand going down after End: theirs again');
  follow.reader('end', 9600);
  follow.reader('up', 9700);
  assert.equal(follow.following, false);
});

test('keys and wheels that move the view name their direction; others do not', () => {
  assert.equal(keyDirection('PageUp'), 'up');
  assert.equal(keyDirection('Home'), 'up');
  assert.equal(keyDirection('End'), 'end');
  assert.equal(keyDirection(' '), 'down');
  assert.equal(keyDirection('a'), null);
  assert.equal(wheelDirection(-3), 'up');
  assert.equal(wheelDirection(3), 'down');
  assert.equal(wheelDirection(0), null);
});
