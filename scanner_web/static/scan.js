// Asks for an approximate location only when the parent presses the button, rounds it to
// about 10 km in the browser, and attaches it to this one scan. Nothing happens without consent.
(function () {
  var button = document.getElementById("share-location");
  var section = document.getElementById("scans");
  if (!button || !section || !navigator.geolocation) { if (button) button.hidden = true; return; }
  button.addEventListener("click", function () {
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      var body = JSON.stringify({
        lat: Math.round(pos.coords.latitude * 10) / 10,
        lon: Math.round(pos.coords.longitude * 10) / 10,
        consent: true
      });
      fetch("/api/v1/scans/" + encodeURIComponent(section.dataset.scanId) + "/location",
            {method: "POST", headers: {"Content-Type": "application/json"}, body: body})
        .then(function (r) { button.textContent = r.ok ? button.dataset.thanks : button.dataset.failed; });
    }, function () { button.textContent = button.dataset.failed; }, {enableHighAccuracy: false, timeout: 15000});
  });
})();
