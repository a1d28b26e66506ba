/* The subscribe form's proof-of-work, served by gbaletter itself (no third party, no CDN).
 *
 * A form with a data-altcha attribute (the challenge URL) gets the challenge in ALTCHA's v1 format
 * ({algorithm, challenge, maxnumber, salt, signature}), finds the number n for which
 * SHA-256(salt + n) is the challenge, and puts the solution in the form's "altcha" field as
 * base64 JSON {algorithm, challenge, number, salt, signature}, which the server checks with the
 * altcha package. Solving starts when the page loads; a submit before it is done waits for it.
 * The messages shown come from the form's data-altcha-working/-done/-failed attributes, so the
 * page's translations apply.
 */
(function () {
  "use strict";
  var BATCH = 256; // digests in flight at once: WebCrypto is asynchronous, one at a time is slow

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  async function solve(challenge) {
    var encoder = new TextEncoder();
    for (var start = 0; start <= challenge.maxnumber; start += BATCH) {
      var tries = [];
      for (var n = start; n < start + BATCH && n <= challenge.maxnumber; n++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
      }
      var digests = await Promise.all(tries);
      for (var i = 0; i < digests.length; i++) {
        if (hex(digests[i]) === challenge.challenge) return start + i;
      }
    }
    throw new Error("no solution");
  }

  async function work(form) {
    var response = await fetch(form.getAttribute("data-altcha"), {credentials: "omit", cache: "no-store"});
    if (!response.ok) throw new Error("challenge: HTTP " + response.status);
    var challenge = await response.json();
    var number = await solve(challenge);
    return btoa(JSON.stringify({algorithm: challenge.algorithm, challenge: challenge.challenge,
                                number: number, salt: challenge.salt, signature: challenge.signature}));
  }

  function setUp(form) {
    var field = form.querySelector("input[name=altcha]");
    var status = form.querySelector("[data-altcha-status]");
    var say = function (which) { if (status) status.textContent = form.getAttribute("data-altcha-" + which) || ""; };
    if (!field) return;
    say("working");
    var solved = work(form).then(function (payload) {
      field.value = payload;
      say("done");
      return true;
    }, function () {
      say("failed");
      return false;
    });
    form.addEventListener("submit", function (event) {
      if (field.value) return;
      event.preventDefault();
      solved.then(function (ok) { if (ok) form.submit(); });
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-altcha]");
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
