/* WebAuthn for authsite's hosted pages: register a security key or passkey, use one as
   a second factor, or sign in with a passkey. No inline script (CSP): elements say what
   to do through data- attributes; the CSRF token comes from the page's hidden input. */
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the buttons stay hidden; the other methods still work
  }

  function b64urlToBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken(element) {
    var scope = element.closest("form") || document;
    var input = scope.querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body, element) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(element) },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw new Error(data.detail || "The request failed. Reload the page and try again.");
        }
        return data;
      });
    });
  }

  function creationOptions(json) {
    json.challenge = b64urlToBuffer(json.challenge);
    json.user.id = b64urlToBuffer(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    json.extensions = Object.assign({}, json.extensions, { credProps: true });
    return { publicKey: json };
  }

  function requestOptions(json) {
    json.challenge = b64urlToBuffer(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    return { publicKey: json };
  }

  function registrationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: bufferToB64url(response.clientDataJSON),
        attestationObject: bufferToB64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : []
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    };
  }

  function assertionJSON(credential, next) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: bufferToB64url(response.clientDataJSON),
        authenticatorData: bufferToB64url(response.authenticatorData),
        signature: bufferToB64url(response.signature),
        userHandle: response.userHandle ? bufferToB64url(response.userHandle) : undefined
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      next: next || undefined
    };
  }

  function showError(element, error) {
    var target = document.getElementById(element.getAttribute("data-error-id"));
    var message = error && error.name === "NotAllowedError"
      ? "The request was cancelled or timed out. Try again."
      : (error && error.message) || "Something went wrong. Try again.";
    if (target) {
      target.textContent = message;
      target.hidden = false;
    }
  }

  function finish(data) {
    window.location.assign(data.redirect || "/");
  }

  function useKey(element) {
    var next = element.getAttribute("data-next") || "";
    post(element.getAttribute("data-options-url"), {}, element)
      .then(function (options) { return navigator.credentials.get(requestOptions(options)); })
      .then(function (credential) {
        return post(element.getAttribute("data-verify-url"), assertionJSON(credential, next), element);
      })
      .then(finish)
      .catch(function (error) { showError(element, error); });
  }

  document.querySelectorAll("[data-webauthn]").forEach(function (element) {
    element.hidden = false;
    var kind = element.getAttribute("data-webauthn");
    if (kind === "register") {
      element.addEventListener("submit", function (event) {
        event.preventDefault();
        var form = new FormData(element);
        var body = { name: form.get("key-name") || "", password: form.get("key-password") || "" };
        post(element.getAttribute("data-options-url"), body, element)
          .then(function (options) { return navigator.credentials.create(creationOptions(options)); })
          .then(function (credential) {
            return post(element.getAttribute("data-verify-url"), registrationJSON(credential), element);
          })
          .then(finish)
          .catch(function (error) { showError(element, error); });
      });
    } else {
      element.addEventListener("click", function () { useKey(element); });
    }
  });
})();
