// chatlog.js renders the conversation. Every piece of text goes through
// textContent, never innerHTML: a stranger's message is shown, not parsed.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export class ChatLog {
  /** @type {HTMLOListElement} */ #list;

  /** @param {HTMLOListElement} list the #messages element */
  constructor(list) {
    this.#list = list;
  }

  /** Removes every message (a new conversation starts). */
  clear() {
    this.#list.replaceChildren();
  }

  /**
   * Adds a message written by this user or by the stranger.
   * @param {'you'|'stranger'} who
   * @param {string} text
   * @param {Date} at
   */
  addMessage(who, text, at) {
    const item = document.createElement('li');
    item.className = `message ${who}`;
    const label = document.createElement('span');
    label.className = 'who';
    label.textContent = who === 'you' ? 'You' : 'Stranger';
    const time = document.createElement('time');
    const valid = !Number.isNaN(at.getTime());
    const when = valid ? at : new Date();
    time.dateTime = when.toISOString();
    time.textContent = timeFormat.format(when);
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = text;
    item.append(label, time, body);
    this.#append(item);
  }

  /**
   * Adds a line from tandem itself ("Stranger left", shared interests).
   * @param {string} text
   */
  addNotice(text) {
    const item = document.createElement('li');
    item.className = 'notice';
    item.textContent = text;
    this.#append(item);
  }

  /** @param {HTMLLIElement} item */
  #append(item) {
    const list = this.#list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}
