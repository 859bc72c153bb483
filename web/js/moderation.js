// moderation.js holds the page's two dialogs of trust and safety: the report
// form (a reason and an optional comment) and the terms the operator asks
// every visitor to accept before the first Start. Each returns a promise of
// the user's answer; the page (app.js) sends it to the server.

/** The reasons a report may give, as the protocol names them. */
export const REPORT_REASONS = ['nudity', 'harassment', 'spam', 'underage', 'other'];

/** What each ban reason is called on the page. @type {Record<string, string>} */
export const REASON_TEXT = {
  nudity: 'nudity or sexual content',
  harassment: 'harassment or hate',
  spam: 'spam or advertising',
  underage: 'appearing to be under age',
  other: 'breaking the rules',
};

/** The report form in a modal <dialog>. */
export class ReportDialog {
  /** @type {HTMLDialogElement} */ #dialog;
  /** @type {HTMLFormElement} */ #form;
  /** @type {HTMLTextAreaElement} */ #comment;
  /** @type {((r: {reason: string, comment: string}|null) => void)|null} */ #resolve = null;

  /**
   * @param {HTMLDialogElement} dialog @param {HTMLFormElement} form
   * @param {HTMLTextAreaElement} comment @param {HTMLButtonElement} cancel
   */
  constructor(dialog, form, comment, cancel) {
    this.#dialog = dialog;
    this.#form = form;
    this.#comment = comment;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const picked = form.querySelector('input[name="reason"]:checked');
      const reason = picked instanceof HTMLInputElement ? picked.value : '';
      if (!REPORT_REASONS.includes(reason)) return;
      this.#finish({ reason, comment: this.#comment.value.trim().slice(0, 500) });
    });
    cancel.addEventListener('click', () => this.#finish(null));
    dialog.addEventListener('cancel', () => this.#finish(null)); // Esc
  }

  /**
   * Shows the form, emptied; resolves with the reason and comment, or null
   * when the user cancelled.
   * @returns {Promise<{reason: string, comment: string}|null>}
   */
  ask() {
    this.#finish(null);
    this.#form.reset();
    this.#dialog.showModal();
    return new Promise((resolve) => { this.#resolve = resolve; });
  }

  /** Closes the form if it is open. */
  close() {
    this.#finish(null);
  }

  /** @param {{reason: string, comment: string}|null} answer */
  #finish(answer) {
    if (this.#dialog.open) this.#dialog.close();
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.(answer);
  }
}

/** The operator's terms in a modal <dialog>, with Accept and Decline. */
export class TermsDialog {
  /** @type {HTMLDialogElement} */ #dialog;
  /** @type {HTMLElement} */ #text;
  /** @type {((accepted: boolean) => void)|null} */ #resolve = null;

  /**
   * @param {HTMLDialogElement} dialog @param {HTMLElement} text
   * @param {HTMLButtonElement} accept @param {HTMLButtonElement} decline
   */
  constructor(dialog, text, accept, decline) {
    this.#dialog = dialog;
    this.#text = text;
    accept.addEventListener('click', () => this.#finish(true));
    decline.addEventListener('click', () => this.#finish(false));
    dialog.addEventListener('cancel', () => this.#finish(false));
  }

  /**
   * Shows terms (as text, never HTML); resolves with whether the user accepted.
   * @param {string} terms @returns {Promise<boolean>}
   */
  ask(terms) {
    this.#finish(false);
    this.#text.textContent = terms;
    this.#dialog.showModal();
    return new Promise((resolve) => { this.#resolve = resolve; });
  }

  /** @param {boolean} accepted */
  #finish(accepted) {
    if (this.#dialog.open) this.#dialog.close();
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.(accepted);
  }
}
