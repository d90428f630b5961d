// The rater's page: draws what the server's state says, sends every answer as it is given.
// Answers wait in an outbox and are sent in order, retried with backoff while the network
// is down; a reload starts again from the server's state. The server judges everything:
// this page never sees an answer key.
(function () {
  "use strict";

  var app = document.getElementById("app");
  var token = app.getAttribute("data-token");
  var header = app.getAttribute("data-header");
  var apiBase = app.getAttribute("data-api").replace(/state$/, "");
  var language = app.getAttribute("data-language");
  // The page's words, translated on the server (see rating/page.py).
  var STRINGS = JSON.parse(document.getElementById("page-strings").textContent);
  function t(key, values) {
    return STRINGS[key].replace(/%\((\w+)\)s/g, function (_, name) { return String(values[name]); });
  }
  var player = document.getElementById("player");
  var preloader = new Audio();
  preloader.preload = "auto";

  var state = null;
  var clips = [];
  var current = -1;
  var playing = false;
  var playedThrough = false;
  var volumeSet = false;
  var outbox = [];
  var sending = false;

  function $(id) { return document.getElementById(id); }

  var SECTIONS = ["stage-loading", "stage-consent", "stage-setup", "stage-questions",
    "stage-clips", "stage-finished", "stage-message"];

  function show(id) {
    var changed = $(id).hidden;
    SECTIONS.forEach(function (name) { $(name).hidden = name !== id; });
    // The language is chosen before the test starts; the session keeps it.
    if ($("language-form")) { $("language-form").hidden = id !== "stage-consent" && id !== "stage-loading"; }
    if (changed) { focusHeading($(id)); }
  }

  // Keyboard and screen-reader users land on the new step's heading, not the page body.
  function focusHeading(container) {
    var heading = container.querySelector("h2:not([hidden])");
    var parts = container.querySelectorAll("div");
    for (var i = 0; i < parts.length; i += 1) {
      if (!parts[i].hidden && parts[i].querySelector("h2")) { heading = parts[i].querySelector("h2"); break; }
    }
    if (!heading) { return; }
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }

  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  // --- Talking to the server ---------------------------------------------------------

  function request(method, path, body) {
    var headers = { "Accept": "application/json", "Accept-Language": language };
    headers[header] = token;
    var options = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(apiBase + path, options).then(function (response) {
      var renewed = response.headers.get(header);  // the server renews a page in use
      if (renewed) { token = renewed; }
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  // Resolves with the first answer that is not a network failure, a 5xx or a 429.
  function call(method, path, body) {
    var delay = 500;
    function attempt() {
      return request(method, path, body).then(function (result) {
        if (result.status >= 500 || result.status === 429) {
          var wait = (result.data && result.data.retry_after_s) ? result.data.retry_after_s * 1000 : delay;
          return retry(wait);
        }
        $("net").hidden = true;
        return result;
      }, function () { return retry(delay); });
    }
    function retry(wait) {
      $("net").hidden = false;
      delay = Math.min(delay * 2, 15000);
      return sleep(wait).then(attempt);
    }
    return attempt();
  }

  function problem(message) {
    $("problem").textContent = message;
    $("problem").hidden = !message;
  }

  // Something went out of step (another tab, a timeout): say so, draw the server's state.
  function resync(result) {
    problem((result.data && result.data.error) || t("resync"));
    outbox = [];
    return load();
  }

  function queue(path, body) {
    outbox.push({ path: path, body: body });
    flush();
  }

  function flush() {
    if (sending || !outbox.length) { return; }
    sending = true;
    var next = outbox[0];
    call("POST", next.path, next.body).then(function (result) {
      if (result.status === 409 && result.data.code === "too_early") {
        return sleep(result.data.retry_after_s * 1000 + 100);
      }
      outbox.shift();
      if (result.status >= 400) { return resync(result); }
      return null;
    }).then(function () {
      sending = false;
      if (outbox.length) { flush(); } else { drained(); }
    });
  }

  var waiters = [];
  function drained() {
    var ready = waiters;
    waiters = [];
    ready.forEach(function (done) { done(); });
  }
  function whenSent() {
    if (!sending && !outbox.length) { return Promise.resolve(); }
    return new Promise(function (done) { waiters.push(done); });
  }

  function post(path, body) {
    return whenSent().then(function () { return call("POST", path, body || {}); })
      .then(function (result) {
        if (result.status >= 400) { return resync(result); }
        render(result.data);
        return result;
      });
  }

  function load() {
    return call("GET", "state").then(function (result) {
      if (result.status >= 400) {
        showMessage(t("cant_open"), result.data.error || t("reload"), false);
        return;
      }
      render(result.data);
    });
  }

  // --- Drawing the state --------------------------------------------------------------

  function render(data) {
    state = data;
    progress(data.progress);
    var stage = data.stage;
    if (stage === "consent") {
      show("stage-consent");
      if (data.message) { problem(data.message); }  // e.g. the last browser could not play
    }
    else if (stage === "setup") { renderSetup(data.setup); }
    else if (stage === "questions") { renderQuestions(data.questions); }
    else if (stage === "training" || stage === "rating") { renderClips(stage, data.clips); }
    else if (stage === "finished") { renderFinished(data.finish, data.platform); }
    else if (stage === "expired") { showMessage(t("timed_out"), data.message, true); }
    else if (stage === "stopped") { showMessage(t("stops_here"), data.message, false); }
    else { showMessage(t("thank_you"), data.message || t("not_available"), false); }
  }

  function progress(p) {
    if (!p) { $("progress").value = 0; $("progress-text").textContent = ""; return; }
    $("progress").max = Math.max(p.total, 1);
    $("progress").value = p.done;
    $("progress-text").textContent = p.done + " / " + p.total;
  }

  function bump() {
    if (state && state.progress) {
      state.progress.done += 1;
      progress(state.progress);
    }
  }

  function showMessage(title, text, restart) {
    $("message-title").textContent = title;
    $("message-text").textContent = text || "";
    $("restart-button").hidden = !restart;
    show("stage-message");
  }

  function playOnce(url, onPlaying, onEnded) {
    player.onplaying = onPlaying || null;
    player.onended = onEnded || null;
    if (player.getAttribute("src") !== url) { player.src = url; }
    player.currentTime = 0;
    return player.play().catch(function () {
      problem(navigator.onLine === false ? t("offline") : t("no_sound"));
    });
  }

  // How long the page was hidden (another tab or app) while the current clip played:
  // sent with its rating, for the optional page-visibility screening rule.
  var hiddenMs = 0;
  var hiddenSince = null;
  document.addEventListener("visibilitychange", function () {
    if (!playing && hiddenSince === null) { return; }
    if (document.hidden) { hiddenSince = Date.now(); }
    else if (hiddenSince !== null) { hiddenMs += Date.now() - hiddenSince; hiddenSince = null; }
  });
  function hiddenSeconds() {
    var open = hiddenSince !== null ? Date.now() - hiddenSince : 0;
    return Math.round(hiddenMs + open) / 1000;
  }

  // While a clip loads or buffers, say so; while it plays, show the time left.
  function clock(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }
  player.addEventListener("waiting", function () {
    if (playing) { $("play-hint").textContent = t("loading"); }
  });
  player.addEventListener("playing", function () {
    if (playing) { $("play-hint").textContent = t("playing"); }
  });
  player.addEventListener("timeupdate", function () {
    if (!playing || !isFinite(player.duration)) { $("play-position").textContent = ""; return; }
    $("play-position").textContent = t("position", {
      position: clock(player.currentTime),
      duration: clock(player.duration),
      left: clock(player.duration - player.currentTime)
    });
  });
  player.addEventListener("error", function () {
    if (!playing) { return; }
    playing = false;
    $("play-button").disabled = false;
    problem(navigator.onLine === false ? t("offline") : t("load_failed"));
  });
  // Back online: clear the warning and let the rater press play again, without a reload.
  window.addEventListener("online", function () {
    $("problem").hidden = true;
    if (current >= 0 && !playedThrough) {
      playing = false;
      player.load();
      $("play-button").disabled = false;
      $("play-hint").textContent = t("back_online");
    }
  });

  // The playback check on this device, once, before the volume step: can the browser
  // decode the clips (AAC in MP4), at what rate does it output audio, and does the volume
  // clip decode at its length. A device that can't play them ends the session unused.
  var playbackChecked = false;
  function checkPlayback(url) {
    var report = { can_play: true, detail: "" };
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (Context) {
        var context = new Context();
        report.sample_rate_hz = Math.round(context.sampleRate);
        if (context.close) { context.close(); }
      }
    } catch (e) { /* no Web Audio: the sample rate stays unknown */ }
    if (!player.canPlayType('audio/mp4; codecs="mp4a.40.2"')) {
      report.can_play = false;
      report.detail = "the browser does not play AAC in MP4";
      return Promise.resolve(report);
    }
    return new Promise(function (done) {
      var probe = new Audio();
      probe.preload = "auto";
      var timer = setTimeout(function () { done(report); }, 20000);  // slow link: no verdict
      probe.addEventListener("loadedmetadata", function () {
        clearTimeout(timer);
        if (isFinite(probe.duration)) { report.duration_s = Math.round(probe.duration * 1000) / 1000; }
        done(report);
      });
      probe.addEventListener("error", function () {
        clearTimeout(timer);
        if (navigator.onLine !== false) {
          report.can_play = false;
          report.detail = "the clip could not be decoded (media error " + (probe.error ? probe.error.code : "?") + ")";
        }
        done(report);
      });
      probe.src = url;
    });
  }

  function runPlaybackCheck(setup) {
    playbackChecked = true;
    $("volume-play").disabled = true;
    $("volume-status").textContent = t("checking");
    checkPlayback(setup.volume_url).then(function (report) {
      return call("POST", "playback", report);
    }).then(function (result) {
      $("volume-play").disabled = false;
      $("volume-status").textContent = "";
      if (result.status >= 400) { return resync(result); }
      if (result.data.stage !== "setup") {
        showMessage(t("cant_play"), result.data.message, false);
      }
    });
  }

  function renderSetup(setup) {
    show("stage-setup");
    if (!playbackChecked && !volumeSet && !setup.retry) { runPlaybackCheck(setup); }
    $("setup-volume").hidden = volumeSet || setup.retry;
    $("setup-digits").hidden = !(volumeSet || setup.retry);
    $("digits-input").value = "";
    $("digits-input").disabled = true;
    $("digits-submit").disabled = true;
    if (volumeSet || setup.retry) { focusHeading($("setup-digits")); }
    $("digits-message").textContent = setup.retry
      ? t("wrong_digits", { tries: setup.tries_left })
      : "";
  }

  function renderQuestions(questions) {
    show("stage-questions");
    $("math-question").textContent = questions.math;
    $("questions-message").textContent = "";
  }

  function renderClips(stage, list) {
    clips = list || [];
    show("stage-clips");
    $("clips-title").textContent = stage === "training" ? t("practice") : t("rate_title");
    $("clips-intro").textContent = stage === "training" ? t("practice_intro") : t("rate_intro");
    current = -1;
    advance();
  }

  function advance() {
    current = -1;
    for (var i = 0; i < clips.length; i += 1) {
      if (!clips[i].rated) { current = i; break; }
    }
    if (current < 0) {
      scores(false);
      $("play-button").disabled = true;
      $("play-hint").textContent = t("saving");
      whenSent().then(function () {
        if (state.stage === "rating") { post("finish"); } else { load(); }
      });
      return;
    }
    $("clip-number").textContent = current + 1;
    $("clip-count").textContent = clips.length;
    playing = false;
    playedThrough = false;
    scores(false);
    $("play-button").disabled = false;
    $("play-button").textContent = t("play");
    $("play-hint").textContent = t("listen");
    $("play-position").textContent = "";
    player.src = clips[current].url;
    var next = clips[current + 1];
    if (next) { preloader.src = next.url; preloader.load(); }
    $("play-button").focus();
  }

  function scores(enabled) {
    document.querySelectorAll(".score").forEach(function (button) { button.disabled = !enabled; });
    // On a small screen the answers may start below the fold: bring them into view once
    // they can be given (after this turn, when the hint above them has its new text).
    if (!enabled) { return; }
    setTimeout(function () {
      var answers = document.querySelectorAll("#stage-clips .score");
      var last = answers[answers.length - 1];
      if (last && last.getBoundingClientRect().bottom > window.innerHeight) {
        last.scrollIntoView({ block: "end" });
      }
    }, 0);
  }

  function playClip() {
    if (playing || current < 0) { return; }
    var clip = clips[current];
    playing = true;
    $("play-button").disabled = true;
    $("play-hint").textContent = t("loading");
    hiddenMs = 0;
    hiddenSince = document.hidden ? Date.now() : null;
    var started = false;
    playOnce(clip.url, function () {
      if (!started) { started = true; queue("play", { clip: clip.clip }); }
    }, function () {
      playing = false;
      playedThrough = true;
      scores(true);
      $("play-button").disabled = false;
      $("play-button").textContent = t("play_again");
      $("play-hint").textContent = t("how_was_it");
    }).then(function () {
      if (player.paused && !started) { playing = false; $("play-button").disabled = false; }
    });
  }

  function rate(score) {
    if (!playedThrough || current < 0 || playing) { return; }
    var clip = clips[current];
    clip.rated = true;
    scores(false);
    queue("rate", { clip: clip.clip, score: score, hidden_s: hiddenSeconds() });
    hiddenSince = null;
    bump();
    advance();
  }

  function renderFinished(finish, platform) {
    show("stage-finished");
    $("completion-code").textContent = finish.code;
    // Where to paste the code, for a rater a crowd platform sent; a direct link has none.
    $("code-where").hidden = !(platform === "mturk" || platform === "prolific");
    var form = $("mturk-form");
    form.hidden = !finish.submit;
    if (finish.submit) {
      form.setAttribute("action", finish.submit.action);
      form.querySelectorAll("input").forEach(function (input) { input.remove(); });
      Object.keys(finish.submit.fields).forEach(function (name) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = finish.submit.fields[name];
        form.appendChild(input);
      });
    }
    $("prolific-return").hidden = !finish.redirect;
    if (finish.redirect) {
      $("prolific-link").href = finish.redirect;
      setTimeout(function () { window.location.href = finish.redirect; }, 3000);
    }
    $("another-button").hidden = !finish.another;
    $("copy-status").textContent = "";
  }

  function copyCode() {
    var code = $("completion-code").textContent;
    var done = function () { $("copy-status").textContent = t("copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code).then(done, selectCode);
    } else {
      selectCode();
    }
  }

  function selectCode() {  // no clipboard access: select the code for the rater to copy
    var range = document.createRange();
    range.selectNodeContents($("completion-code"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    $("copy-status").textContent = t("selected");
  }

  // --- What the rater does --------------------------------------------------------------

  $("consent-button").addEventListener("click", function () {
    $("consent-button").disabled = true;
    post("consent").then(function () { $("consent-button").disabled = false; });
  });
  $("restart-button").addEventListener("click", function () { post("consent"); });
  $("another-button").addEventListener("click", function () { post("consent"); });
  $("copy-code").addEventListener("click", copyCode);

  $("volume-play").addEventListener("click", function () {
    playOnce(state.setup.volume_url, function () { $("volume-done").disabled = false; });
  });
  $("volume-done").addEventListener("click", function () {
    player.pause();
    volumeSet = true;
    renderSetup(state.setup);
  });
  $("digits-play").addEventListener("click", function () {
    $("digits-play").disabled = true;
    playOnce(state.setup.digits_url, null, function () {
      $("digits-play").disabled = false;
      $("digits-input").disabled = false;
      $("digits-submit").disabled = false;
      $("digits-input").focus();
    });
  });
  function sendDigits() {
    var typed = $("digits-input").value.trim();
    if (!typed) { return; }
    $("digits-submit").disabled = true;
    post("setup", { clip: state.setup.clip, digits: typed });
  }
  $("digits-submit").addEventListener("click", sendDigits);
  $("digits-input").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); sendDigits(); }
  });

  function checked(name) {
    var input = document.querySelector("input[name=" + name + "]:checked");
    return input ? input.value === "yes" : null;
  }
  $("questions-submit").addEventListener("click", function () {
    var math = $("math-input").value.trim();
    var hearing = checked("hearing");
    var headphones = checked("headphones");
    if (!/^-?\d+$/.test(math) || hearing === null || headphones === null) {
      $("questions-message").textContent = t("answer_all");
      return;
    }
    $("questions-submit").disabled = true;
    post("questions", { math: parseInt(math, 10), hearing_normal: hearing, headphones: headphones })
      .then(function () { $("questions-submit").disabled = false; });
  });

  $("play-button").addEventListener("click", playClip);
  document.querySelectorAll(".score").forEach(function (button) {
    button.addEventListener("click", function () { rate(parseInt(button.getAttribute("data-score"), 10)); });
  });
  document.addEventListener("keydown", function (event) {
    if ($("stage-clips").hidden || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) { return; }
    var answer = /^[1-9]$/.test(event.key) &&
      document.querySelector('.score[data-key="' + event.key + '"]');
    if (answer) {
      event.preventDefault();
      rate(parseInt(answer.getAttribute("data-score"), 10));
    } else if ((event.key === "Enter" || event.key === " ") &&
               !(target && target.classList && target.classList.contains("score"))) {
      event.preventDefault();
      playClip();
    }
  });

  window.addEventListener("online", flush);
  load();
})();
