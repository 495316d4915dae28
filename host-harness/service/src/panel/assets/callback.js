// The OAuth callback tab tells the panel's tab what happened, so the panel updates at once.
'use strict';
(function () {
  const result = document.getElementById('link-result');
  if (!result || typeof BroadcastChannel === 'undefined') return;
  const text = document.getElementById('link-result-text');
  new BroadcastChannel('mailsync-panel').postMessage({
    ok: result.dataset.ok === 'true',
    outcome: result.dataset.outcome,
    message: text ? text.textContent : '',
  });
  document.body.dataset.told = 'true';
})();
