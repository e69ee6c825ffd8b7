// The sign-in page (`/`, and `/join?code=…`): sign in, or create an account, then go to
// /board (teachers) or /study (learners). Someone already signed in goes there at once. On a
// join link the class code is filled in and used once signed in (study-classes.js joins).
//
// data-testid:
//   signin-tab, signup-tab                 the two tabs
//   signin-form, signup-form               the two forms (tab panels)
//   signin-email, signin-password, signin-password-reveal, signin-submit
//   signin-email-error, signin-password-error        field messages
//   signin-error                           form-level message (bad credentials, rate limit, …)
//   signup-name, signup-email, signup-password, signup-password-reveal, signup-submit
//   signup-code-field, signup-join-code (learners only: a class code, used by /study)
//   signup-role-learner, signup-role-teacher         labels wrapping the role radios
//   signup-name-error, signup-email-error, signup-password-error, signup-role-error
//   signup-error                           form-level message (email taken, rate limit, …)
//   signin-redirect                        "Signed in as …, taking you to …" notice
//   join-notice                            on a join link (/join?code=…): the code it joins with
//   demo-note, demo-teacher, demo-learner  the demo logins (a click fills the sign-in form)

import { api } from "./api.js";
import { JOIN_CODE_KEY } from "./util.js";

const DEMO_PASSWORD = "tandem-demo";
const $ = (selector, root = document) => root.querySelector(selector);

const tabs = { signin: $("#tab-signin"), signup: $("#tab-signup") };
const panels = { signin: $("#panel-signin"), signup: $("#panel-signup") };

/** Where a user belongs once signed in. */
export function homeFor(user) {
  return user?.role === "teacher" ? "/board" : "/study";
}

let leaving = false;

function go(user) {
  if (leaving) return;
  leaving = true;
  const target = homeFor(user);
  const notice = $("#signin-redirect");
  notice.textContent = `Signed in as ${user.name}. Opening ${target === "/board" ? "your board" : "your study deck"}…`;
  notice.hidden = false;
  location.assign(target);
}

// ---- tabs ---------------------------------------------------------------------------------

function select(name, { focus = false } = {}) {
  for (const [key, tab] of Object.entries(tabs)) {
    const on = key === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    panels[key].hidden = !on;
  }
  document.title = name === "signup" ? "Create an account · Tandem" : "Sign in · Tandem";
  if (focus) tabs[name].focus();
  // A join link keeps its code in the address (a reload still joins); `/` drops its query.
  const query = location.pathname === "/join" ? location.search : "";
  if (location.hash !== `#${name}`) history.replaceState(null, "", `${location.pathname}${query}${name === "signup" ? "#signup" : ""}`);
}

for (const [name, tab] of Object.entries(tabs)) {
  tab.addEventListener("click", () => select(name));
  tab.addEventListener("keydown", (event) => {
    const order = ["signin", "signup"];
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      next = order[(order.indexOf(name) + 1) % order.length];
    } else if (event.key === "Home") next = "signin";
    else if (event.key === "End") next = "signup";
    if (next) {
      event.preventDefault();
      select(next, { focus: true });
    }
  });
}

// ---- messages -----------------------------------------------------------------------------

function fieldOf(form, name) {
  return form.querySelector(`[name="${name}"]`);
}

function setFieldError(form, name, message) {
  const prefix = form.id === "panel-signup" ? "signup" : "signin";
  const slot = $(`#${prefix}-${name}-error`);
  if (slot) slot.textContent = message || "";
  const input = fieldOf(form, name);
  if (!input) return;
  if (input.type === "radio") {
    form.querySelector(".role-choice")?.classList.toggle("invalid", Boolean(message));
  } else if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function setFormError(form, message) {
  const box = form.querySelector(".form-error");
  box.replaceChildren();
  if (!message) {
    box.hidden = true;
    return;
  }
  if (message instanceof Node) box.append(message);
  else box.textContent = message;
  box.hidden = false;
}

function clearErrors(form) {
  setFormError(form, null);
  for (const name of ["name", "email", "password", "role"]) setFieldError(form, name, "");
}

function focusFirstInvalid(form) {
  const first = form.querySelector('[aria-invalid="true"]') || (form.querySelector(".role-choice.invalid input"));
  first?.focus();
}

const FRIENDLY = {
  name: "Enter your name.",
  email: "Enter a valid email address, like name@school.org.",
  password: "Use at least 8 characters.",
  role: "Choose whether you are a teacher or a learner.",
};

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Show an ApiError (or a network failure) on `form`, the way a person can act on it. */
function showApiError(form, error) {
  if (error?.name === "TypeError" || error?.status === undefined) {
    setFormError(form, "Tandem can't be reached right now. Check your connection and try again.");
    return;
  }
  switch (error.code) {
    case "INVALID_CREDENTIALS":
      setFormError(form, "That email and password don't match an account. Check both and try again.");
      setFieldError(form, "password", " ");
      fieldOf(form, "password").select();
      return;
    case "EMAIL_TAKEN": {
      const email = fieldOf(form, "email").value.trim();
      const text = document.createElement("span");
      text.textContent = "An account with this email already exists. ";
      const link = document.createElement("button");
      link.type = "button";
      link.className = "link-button";
      link.textContent = "Sign in instead";
      link.dataset.testid = "signup-signin-instead";
      link.addEventListener("click", () => {
        fieldOf(panels.signin, "email").value = email;
        select("signin");
        fieldOf(panels.signin, "password").focus();
      });
      text.append(link);
      setFormError(form, text);
      setFieldError(form, "email", "This email is already registered.");
      return;
    }
    case "VALIDATION_ERROR": {
      const fields = Array.isArray(error.details?.fields) ? error.details.fields : [];
      let named = 0;
      for (const item of fields) {
        const name = String(item.field || "").split(".").pop();
        if (name in FRIENDLY && fieldOf(form, name)) {
          setFieldError(form, name, FRIENDLY[name]);
          named += 1;
        }
      }
      setFormError(form, named ? "Please fix the highlighted fields." : error.message || "Please check the form and try again.");
      focusFirstInvalid(form);
      return;
    }
    case "RATE_LIMITED": {
      const wait = Number(error.details?.retry_after);
      setFormError(
        form,
        wait > 0
          ? `Too many attempts. Please wait ${plural(wait, "second")} and try again.`
          : `${error.message || "Too many attempts"}. Please wait a few minutes and try again.`.replace("..", "."),
      );
      return;
    }
    case "PAYLOAD_TOO_LARGE":
      setFormError(form, "That is too long. Please shorten what you typed.");
      return;
    case "SERVICE_UNAVAILABLE":
      setFormError(form, "Tandem is temporarily unavailable. Please try again in a moment.");
      return;
    default:
      setFormError(form, error.message || "Something went wrong. Please try again.");
  }
}

// ---- validation before sending -------------------------------------------------------------

const EMAIL = /^[^@\s]+@[^@\s]+$/;

function validate(form, values, { signup }) {
  let ok = true;
  if (signup && !values.name.trim()) {
    setFieldError(form, "name", FRIENDLY.name);
    ok = false;
  }
  if (!EMAIL.test(values.email.trim())) {
    setFieldError(form, "email", values.email.trim() ? FRIENDLY.email : "Enter your email address.");
    ok = false;
  }
  if (signup && values.password.length < 8) {
    setFieldError(form, "password", values.password ? `Use at least 8 characters (you typed ${values.password.length}).` : "Choose a password of at least 8 characters.");
    ok = false;
  } else if (!values.password) {
    setFieldError(form, "password", "Enter your password.");
    ok = false;
  }
  if (signup && !["teacher", "learner"].includes(values.role)) {
    setFieldError(form, "role", FRIENDLY.role);
    ok = false;
  }
  if (!ok) {
    setFormError(form, null);
    focusFirstInvalid(form);
  }
  return ok;
}

async function submit(form, { signup }) {
  clearErrors(form);
  const data = new FormData(form);
  const values = {
    name: String(data.get("name") ?? ""),
    email: String(data.get("email") ?? ""),
    password: String(data.get("password") ?? ""),
    role: String(data.get("role") ?? ""),
  };
  if (!validate(form, values, { signup })) return;
  const button = form.querySelector(".submit");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = signup ? "Creating your account…" : "Signing in…";
  form.setAttribute("aria-busy", "true");
  try {
    // A class code given at sign-up is used by the study page once signed in (it shows the
    // outcome where "My classes" lives, and a wrong code can be fixed there).
    // A join link's code waits there already (see "start"), for a sign-in as well; a sign-up
    // says for itself whether it comes with one.
    const code = signup && values.role === "learner" ? String(data.get("join_code") ?? "").trim() : "";
    if (code) sessionStorage.setItem(JOIN_CODE_KEY, code);
    else if (signup) sessionStorage.removeItem(JOIN_CODE_KEY);
    const user = signup
      ? await api.signUp({ name: values.name.trim(), email: values.email.trim(), password: values.password, role: values.role })
      : await api.signIn({ email: values.email.trim(), password: values.password });
    go(user);
  } catch (error) {
    showApiError(form, error);
    button.disabled = false;
    button.textContent = label;
  } finally {
    form.removeAttribute("aria-busy");
  }
}

panels.signin.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(panels.signin, { signup: false });
});
panels.signup.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(panels.signup, { signup: true });
});

// The class code is for learners: hidden while "Teacher" is chosen.
function syncCodeField() {
  const role = new FormData(panels.signup).get("role");
  $("#signup-code-field").hidden = role !== "learner";
}
panels.signup.addEventListener("change", syncCodeField);
syncCodeField();

// Clear a field's message as soon as it is edited.
for (const form of Object.values(panels)) {
  form.addEventListener("input", (event) => {
    const name = event.target.name;
    if (name) setFieldError(form, name, "");
  });
}

// Show / hide password.
for (const button of document.querySelectorAll(".reveal")) {
  const input = document.getElementById(button.getAttribute("aria-controls"));
  button.setAttribute("aria-label", "Show password");
  button.addEventListener("click", () => {
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    button.textContent = show ? "Hide" : "Show";
    button.setAttribute("aria-pressed", String(show));
    button.setAttribute("aria-label", show ? "Hide password" : "Show password");
    input.focus();
  });
}

// Demo logins fill the sign-in form.
for (const button of document.querySelectorAll("[data-demo-email]")) {
  button.addEventListener("click", () => {
    select("signin");
    clearErrors(panels.signin);
    fieldOf(panels.signin, "email").value = button.dataset.demoEmail;
    fieldOf(panels.signin, "password").value = DEMO_PASSWORD;
    panels.signin.querySelector(".submit").focus();
  });
}

// ---- start --------------------------------------------------------------------------------

// A join link (`/join?code=…`, from a teacher's Invite dialog or printed sheet): the code
// waits in sessionStorage for the study page, which joins with it once the learner is signed
// in or up, and fills the sign-up form, which it opens.
const joinCode = location.pathname === "/join" ? (new URLSearchParams(location.search).get("code") ?? "").trim() : "";
if (joinCode) sessionStorage.setItem(JOIN_CODE_KEY, joinCode);

function showJoin(code) {
  fieldOf(panels.signup, "join_code").value = code;
  panels.signup.querySelector('input[name="role"][value="learner"]').checked = true;
  syncCodeField();
  const notice = $("#join-notice");
  const shown = document.createElement("code");
  shown.textContent = code;
  notice.replaceChildren("You are joining a class with the code ", shown, ". Create your account — or sign in if you have one — and you are in.");
  notice.hidden = false;
}

if (api.user) {
  go(api.user);
} else if (joinCode) {
  showJoin(joinCode);
  select(location.hash === "#signin" ? "signin" : "signup");
  api.onChange((user) => {
    if (user) go(user);
  });
} else {
  const reason = new URLSearchParams(location.search).get("signed_out");
  select(location.hash === "#signup" ? "signup" : "signin");
  if (reason === "elsewhere") {
    setFormError(panels.signin, "You were signed out because your session ended or was used on another device. Please sign in again.");
  }
  // A sign-in in another tab takes this one along.
  api.onChange((user) => {
    if (user) go(user);
  });
}
