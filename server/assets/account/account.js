// The account pages (/account/invitation, /account/reset, /account/unsubscribe): the link's token rides in the
// URL's fragment, which browsers never send to a server; it is read once, then removed from
// the address bar and the history, and sent only in the body of the request that spends it.
"use strict";
(function () {
  var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  var unsubscribe = document.getElementById("unsubscribe-form");
  if (unsubscribe) {
    if (window.location.hash) {
      history.replaceState(null, "", window.location.pathname);
    }
    var note = document.getElementById("status");
    var names = { absence: "absence alerts", results: "results" };
    var kind = params.get("k") || "";
    var what = document.getElementById("what");
    if (what && names[kind]) {
      what.textContent = "campushub will stop emailing you " + names[kind] +
        ". You can turn them on again in your notification settings.";
    }
    if (!params.get("u") || !params.get("t") || !names[kind]) {
      note.textContent = "This page opens from the link at the end of a campushub email. Open that link again, and check that it was copied whole.";
      note.className = "error";
      document.getElementById("submit").disabled = true;
      return;
    }
    unsubscribe.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = document.getElementById("submit");
      button.disabled = true;
      fetch("/api/v1/notifications/unsubscribe", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: params.get("u"), kind: kind, token: params.get("t") }),
        credentials: "omit",
        referrerPolicy: "no-referrer"
      }).then(function (answer) {
        if (answer.status === 200) {
          unsubscribe.hidden = true;
          note.textContent = "Done: campushub will not email you " + names[kind] + " any more.";
          note.className = "done";
          return;
        }
        return answer.json().then(function (problem) {
          button.disabled = false;
          note.textContent = (problem && problem.errors && problem.errors.length)
            ? problem.errors[0].detail : ((problem && problem.detail) || "Something went wrong.");
          note.className = "error";
        });
      }).catch(function () {
        button.disabled = false;
        note.textContent = "campushub could not be reached. Check your connection and try again.";
        note.className = "error";
      });
    });
    return;
  }
  var form = document.getElementById("password-form");
  var status = document.getElementById("status");
  if (!form || !status) { return; }
  var token = params.get("token") || "";
  if (window.location.hash) {
    history.replaceState(null, "", window.location.pathname);
  }
  var api = form.dataset.purpose === "reset"
    ? "/api/v1/auth/password-reset/confirm"
    : "/api/v1/auth/invitation/accept";
  var password = document.getElementById("password");
  var confirm = document.getElementById("confirm");
  var button = document.getElementById("submit");

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }
  if (!token) {
    say("This page opens from the link in your email. Open that link again, and check that it was copied whole.", "error");
    button.disabled = true;
    return;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    password.removeAttribute("aria-invalid");
    confirm.removeAttribute("aria-invalid");
    if (password.value.length < 10) {
      password.setAttribute("aria-invalid", "true");
      password.focus();
      say("The password needs at least 10 characters.", "error");
      return;
    }
    if (password.value !== confirm.value) {
      confirm.setAttribute("aria-invalid", "true");
      confirm.focus();
      say("The two passwords are not the same. Type them again.", "error");
      return;
    }
    button.disabled = true;
    say("Setting your password…");
    fetch(api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token, password: password.value }),
      credentials: "omit",
      referrerPolicy: "no-referrer"
    }).then(function (answer) {
      if (answer.status === 204) {
        form.hidden = true;
        say("Your password is set. You can now log in with your username and this password.", "done");
        return;
      }
      return answer.json().then(function (problem) {
        var detail = problem && problem.errors && problem.errors.length
          ? problem.errors.map(function (e) {
            return (e.field === "password" ? "The password " : "") + e.detail;
          }).join(" ")
          : (problem && problem.detail) || "Something went wrong.";
        button.disabled = false;
        say(detail.charAt(0).toUpperCase() + detail.slice(1), "error");
      });
    }).catch(function () {
      button.disabled = false;
      say("campushub could not be reached. Check your connection and try again.", "error");
    });
  });
}());
