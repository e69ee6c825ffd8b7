// The study page's "My classes" (contract §8): the classes the learner is a student of, with
// Leave, and a field for a join code (a class's code, or a student's own code from the
// teacher's list). A code typed at sign-up (signin.js) is used here once, on arrival.
//
// data-testid: classes, classes-empty, class-list, class-<id> (class-name, class-as,
//   class-leave), join-form, join-code, join-submit, join-note, confirm-dialog, confirm-ok,
//   confirm-cancel

import { confirmDialog } from "./board-dialogs.js";
import { h } from "./board-util.js";
import { JOIN_CODE_KEY } from "./util.js";

const CLASSROOMS = "/api/v1/classrooms";
const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

export class StudyClasses {
  constructor(api, { onChange = () => {} } = {}) {
    this.api = api;
    this.onChange = onChange; // a class joined or left: the assigned words may differ
    this.classes = [];
    $("join-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.join($("join-code").value);
    });
  }

  async start() {
    const pending = sessionStorage.getItem(JOIN_CODE_KEY);
    sessionStorage.removeItem(JOIN_CODE_KEY);
    await this.load();
    if (pending) {
      $("join-code").value = pending;
      await this.join(pending);
    }
  }

  async load() {
    try {
      this.classes = await this.api.request("GET", CLASSROOMS);
    } catch {
      this.say("Your classes couldn't be loaded. Reload the page to try again.", true);
      return;
    }
    this.render();
  }

  render() {
    $("classes-empty").hidden = this.classes.length > 0;
    $("class-list").replaceChildren(
      ...this.classes.map((item) => {
        const leave = h("button.secondary", { type: "button", "data-testid": "class-leave", "aria-label": `Leave ${item.name}` }, "Leave");
        leave.addEventListener("click", () => this.leave(item));
        return h(
          "li.class-item",
          { "data-testid": `class-${item.id}` },
          h("div", {}, h("span.class-name", { "data-testid": "class-name" }, item.name), h("span.class-as", { "data-testid": "class-as" }, `as ${item.student.name}`)),
          leave,
        );
      }),
    );
  }

  say(text, error = false) {
    $("join-note").textContent = text;
    $("join-note").classList.toggle("is-error", error);
  }

  async join(raw) {
    const code = String(raw).trim();
    if (!code) {
      this.say("Type the code your teacher gave you.", true);
      $("join-code").focus();
      return;
    }
    $("join-submit").disabled = true;
    this.say("Joining…");
    try {
      const answer = await this.api.request("POST", `${CLASSROOMS}/join`, { join_code: code });
      $("join-code").value = "";
      this.say(`You're in ${answer.classroom.name} as ${answer.student.name}.`);
      await this.load();
      this.onChange();
    } catch (error) {
      this.say(
        error.status === 404
          ? `No class has the code “${code}”. Check it with your teacher and try again.`
          : error.status === 403
            ? "Class codes are for learners' accounts."
            : error.message || "Joining didn't work. Try again.",
        true,
      );
      $("join-code").focus();
    } finally {
      $("join-submit").disabled = false;
    }
  }

  async leave(item) {
    const ok = await confirmDialog({
      title: `Leave ${item.name}?`,
      body: "Your teacher no longer sees your progress there. You keep your own progress, and can come back with a code.",
      confirm: "Leave",
    });
    if (!ok) return;
    try {
      await this.api.request("POST", `${CLASSROOMS}/${item.id}/leave`);
      this.say(`You left ${item.name}.`);
      await this.load();
      this.onChange();
    } catch (error) {
      this.say(error.message || "Leaving didn't work. Try again.", true);
    }
  }
}
