// What the review player shows and how it is driven, shared by the shared-review page and the
// supervision call page: the state line, frame counter, scrub bar, loop box and playlist, and
// the buttons that send "review" commands. No connection code: the page passes `command`.

/** @typedef {(fields: Omit<import('./messages').ReviewCommand, 'type'>) => void} Command */

const NAMES = /** @type {Record<string, string>} */ ({
  playing: 'Playing', paused: 'Paused', still: 'Showing a still', empty: 'Nothing to show',
});

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Show the player's state (elements a page lacks, like #source-frame, are skipped).
 * @param {import('./protocol.js').ReviewState} state @param {Command} command
 */
export function renderPlayer(state, command) {
  byId('review-state').textContent = state.notice || NAMES[state.state] || state.state;
  byId('review-frame').textContent = String(state.frame);
  byId('review-frame').dataset.frame = String(state.frame);
  byId('review-frames').textContent = String(state.frames);
  const source = document.getElementById('source-frame');
  if (source) source.textContent = String(state.first_frame + state.frame);
  const speed = document.getElementById('review-speed');
  if (speed) speed.textContent = String(state.speed);
  byId('play').textContent = state.state === 'playing' ? 'Pause' : 'Play';
  const scrub = /** @type {HTMLInputElement} */ (byId('scrub'));
  scrub.max = String(Math.max(0, state.frames - 1));
  scrub.value = String(state.frame);
  /** @type {HTMLInputElement} */ (byId('loop')).checked = state.loop;
  const list = byId('playlist');
  list.replaceChildren();
  state.items.forEach((item, index) => {
    const entry = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${item.kind === 'still' ? '🖼 ' : ''}${item.title}`;
    button.className = index === state.item ? 'primary' : '';
    button.addEventListener('click', () => command({ action: 'select', item: index }));
    entry.append(button);
    list.append(entry);
  });
}

/**
 * Wire play/pause, steps, the scrub bar, loop and speeds to `command`.
 * @param {Command} command @param {() => import('./protocol.js').ReviewState|null} current
 */
export function wirePlayerControls(command, current) {
  byId('play').addEventListener('click', () => {
    const state = current();
    command({ action: state && state.state === 'playing' ? 'pause' : 'play' });
  });
  byId('step-back').addEventListener('click', () => command({ action: 'step', delta: -1 }));
  byId('step-forward').addEventListener('click', () => command({ action: 'step', delta: 1 }));
  byId('scrub').addEventListener('change', () => command({ action: 'seek', frame: Number(/** @type {HTMLInputElement} */ (byId('scrub')).value) }));
  byId('loop').addEventListener('change', () => command({ action: 'loop', on: /** @type {HTMLInputElement} */ (byId('loop')).checked }));
  for (const button of document.querySelectorAll('.speed')) {
    button.addEventListener('click', () => command({ action: 'speed', speed: Number(/** @type {HTMLElement} */ (button).dataset.speed) }));
  }
}
