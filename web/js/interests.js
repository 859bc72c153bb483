// interests.js turns the landing view's interests field into tags: a comma
// or Enter makes the typed word a tag, Backspace in the empty field removes
// the last one. Tags are lowercase, unique, at most MAX_TAGS, and remembered
// in localStorage for the next visit.

const MAX_TAGS = 10;
const MAX_TAG_LENGTH = 32; // characters (code points), as the server counts
const STORAGE_KEY = 'tandem.interests';

export class InterestTags {
  /** @type {HTMLUListElement} */ #list;
  /** @type {HTMLInputElement} */ #input;
  /** @type {string[]} */ #tags = [];

  /**
   * @param {HTMLUListElement} list where the tags are shown
   * @param {HTMLInputElement} input where new tags are typed
   */
  constructor(list, input) {
    this.#list = list;
    this.#input = input;
    input.addEventListener('input', () => this.#onInput());
    input.addEventListener('keydown', (ev) => this.#onKeyDown(ev));
    this.#load();
  }

  /**
   * The tags, including any word still being typed (which becomes a tag now:
   * not on blur, because a layout change under the pointer between mousedown
   * and mouseup would swallow the click on Start).
   * @returns {string[]}
   */
  read() {
    this.#commit(this.#input.value);
    return [...this.#tags];
  }

  #onInput() {
    const value = this.#input.value;
    if (!/[,;]/.test(value)) return;
    const parts = value.split(/[,;]/);
    const rest = parts.pop() ?? '';
    for (const part of parts) this.#add(part);
    this.#input.value = rest.trimStart();
    this.#render();
  }

  /** @param {KeyboardEvent} ev */
  #onKeyDown(ev) {
    if (ev.key === 'Enter' && this.#input.value.trim() !== '') {
      ev.preventDefault();
      this.#commit(this.#input.value);
    } else if (ev.key === 'Backspace' && this.#input.value === '' && this.#tags.length) {
      this.#remove(this.#tags[this.#tags.length - 1]);
    }
  }

  /** @param {string} text */
  #commit(text) {
    if (text.trim() === '') return;
    this.#add(text);
    this.#input.value = '';
    this.#render();
  }

  /** @param {string} raw */
  #add(raw) {
    const tag = Array.from(raw.trim().toLowerCase()).slice(0, MAX_TAG_LENGTH).join('');
    if (tag && !this.#tags.includes(tag) && this.#tags.length < MAX_TAGS) this.#tags.push(tag);
  }

  /** @param {string} tag */
  #remove(tag) {
    this.#tags = this.#tags.filter((t) => t !== tag);
    this.#render();
    this.#input.focus();
  }

  #render() {
    this.#list.replaceChildren(...this.#tags.map((tag) => {
      const item = document.createElement('li');
      item.className = 'tag';
      const label = document.createElement('span');
      label.textContent = tag;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'tag-remove';
      remove.textContent = '×';
      remove.setAttribute('aria-label', `Remove ${tag}`);
      remove.addEventListener('click', () => this.#remove(tag));
      item.append(label, remove);
      return item;
    }));
    this.#input.placeholder = this.#tags.length >= MAX_TAGS ? 'That is plenty' : 'music, chess, travel';
    this.#save();
  }

  #load() {
    try {
      const saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? '[]');
      if (Array.isArray(saved)) for (const tag of saved) this.#add(String(tag));
    } catch { /* storage unavailable or garbled: start empty */ }
    this.#render();
  }

  #save() {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(this.#tags));
    } catch { /* private mode: tags last for this visit only */ }
  }
}
