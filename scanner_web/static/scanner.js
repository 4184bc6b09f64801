// The camera scanner (/scan): rear camera -> canvas -> jsQR, all on the phone.
// A GS1 Digital Link (/01/<GTIN>/10/<lot>/21/<serial> under any host) opens that path on this
// server; any other QR text is reported as not ours and scanning goes on. Typing the code in the
// form below works without a camera (and without this script).
(function () {
  "use strict";
  var root = document.getElementById("camera");
  var video = document.getElementById("video");
  var canvas = document.getElementById("frame");
  var status = document.getElementById("status");
  var button = document.getElementById("camera-start");
  if (!root || !video || !canvas || !status || !button) return;
  var text = root.dataset;
  var LINK = /^\/01\/(\d{8}|\d{12,14})\/10\/[^\/]+\/21\/[^\/]+\/?$/;
  var MAX_SIDE = 640;  // decode at most this many pixels wide: enough for a pack's QR, cheap on old phones
  var EVERY_MS = 150;
  var stream = null, timer = null, context = null, lastOther = null;

  function say(message, kind) {
    status.textContent = message;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function itemPath(data) {
    var url;
    try { url = new URL(data.trim()); } catch (e) { return null; }
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    return LINK.test(url.pathname) ? url.pathname.replace(/\/$/, "") : null;
  }

  function shorten(data) {
    return data.length > 60 ? data.slice(0, 57) + "…" : data;
  }

  function stop() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
  }

  function open(path) {
    stop();
    say(text.found, "ok");
    window.location.assign(path + (document.documentElement.lang === "en" ? "?lang=en" : ""));
  }

  function tick() {
    timer = null;
    if (!stream) return;
    if (video.readyState >= 2 && video.videoWidth > 0) {
      var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
      var w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; context = null; }
      context = context || canvas.getContext("2d", {willReadFrequently: true});
      context.drawImage(video, 0, 0, w, h);
      var code = window.jsQR(context.getImageData(0, 0, w, h).data, w, h, {inversionAttempts: "dontInvert"});
      if (code && code.data) {
        var path = itemPath(code.data);
        if (path) { open(path); return; }
        if (code.data !== lastOther) {
          lastOther = code.data;
          say(text.notOurs + ": " + shorten(code.data), "bad");
        }
      }
    }
    timer = setTimeout(tick, EVERY_MS);
  }

  function fail(message) {
    stop();
    root.classList.add("off");  // no black box where no camera is
    say(message, "bad");
    button.hidden = false;
  }

  function start() {
    if (stream) return;
    if (typeof window.jsQR !== "function") { fail(text.failed); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      fail(window.isSecureContext === false ? text.insecure : text.failed);
      return;
    }
    button.hidden = true;
    root.classList.remove("off");
    lastOther = null;
    say(text.starting);
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: {facingMode: {ideal: "environment"}, width: {ideal: 1280}, height: {ideal: 720}}
    }).then(function (s) {
      stream = s;
      video.srcObject = s;
      return video.play();
    }).then(function () {
      say(text.looking);
      tick();
    }).catch(function () { fail(text.failed); });
  }

  button.addEventListener("click", start);
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", function (event) { if (event.persisted && !stream) start(); });
  if (document.getElementById("not-ours")) {
    // Back from a typed code that was not one: the parent is typing, so leave the camera off.
    root.classList.add("off");
    button.hidden = false;
  } else {
    start();
  }
})();
