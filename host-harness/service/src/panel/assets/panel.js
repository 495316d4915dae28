// The "E-mail settings" panel over the service's API: link, map folders, watch mail arrive and
// reply to it, unlink; and the administrator's "Imap oAuth2" settings. No framework, nothing
// third-party.
'use strict';

const TEXT = {
  en: {
    title: 'E-mail settings',
    signedOut: 'You are not signed in. Open the E-mail settings from the CRM again.',
    signedInAs: (user, mailbox) => `Signed in as ${user}, for the mailbox ${mailbox}.`,
    signOut: 'Sign out',
    provider: 'Mail service',
    link: 'Link mailbox',
    remove: 'Remove mailbox',
    reauthorise: 'Link mailbox',
    mailSettings: 'Mail settings',
    address: 'E-mail address',
    host: 'IMAP server',
    port: 'Port',
    security: 'Security',
    username: 'User name',
    auth: 'Sign-in',
    readOnly: 'Filled in by linking; read-only while the mailbox is linked.',
    emptyFields: 'Filled in automatically when you link a mailbox.',
    editFolders: 'Edit folders',
    syncNow: 'Sync now',
    folders: 'Connect each CRM folder to a folder of your mailbox',
    crmInbox: 'CRM inbox',
    crmArchive: 'CRM archive',
    crmDeleted: 'CRM deleted items',
    crmSent: 'CRM sent items',
    notSynced: '— not synced —',
    saveFolders: 'Save folders',
    cancel: 'Cancel',
    save: 'Save',
    foldersSaved: 'Folders saved. Mail from the mapped folders now arrives in the CRM.',
    confirmRemove: 'Remove this mailbox? Synchronisation stops and the mail settings are emptied. Mail already in the CRM stays.',
    removed: 'The mailbox was removed. You can link again at any moment.',
    linked: 'Mailbox linked. Now choose "Edit folders" to connect the folders.',
    waitingConsent: 'Give consent in the new tab.',
    popupBlocked: 'The browser blocked the new tab. Allow pop-ups for the CRM and click "Link mailbox" again.',
    lastSync: 'Last sync',
    neverSynced: 'Not synced yet.',
    syncSummary: (at, c, u, r) => `${at}: ${c} new, ${u} changed, ${r} removed.`,
    syncStarted: 'A sync was started.',
    adminTitle: 'Imap oAuth2',
    adminProviders: 'Mail services users may link',
    adminLinkFlag: 'Show "Link mailbox" to users (feature flag)',
    adminSaved: 'Settings saved.',
    notConfigured: '(no client id in the settings)',
    messages: 'Messages in the CRM',
    messageCount: (n) => `${n} message${n === 1 ? '' : 's'}`,
    colFrom: 'From', colSubject: 'Subject', colFolder: 'Folder', colDate: 'Date',
    reply: 'Reply',
    replyTitle: (to) => `Reply to ${to}`,
    replyText: 'Your answer',
    send: 'Send',
    close: 'Close',
    sending: 'Sending…',
    sent: 'Sent. It will show in the CRM with the next sync.',
    queued: 'Waiting in the outbox: it goes out as soon as the mail server takes it.',
    notSent: (why) => `Not sent: ${why}`,
    refusedRecipients: (list) => `the mail server refused ${list}`,
    markRead: 'Mark read',
    archive: 'Archive',
    delete: 'Delete',
    notChanged: (why) => `Not changed in the mailbox: ${why}`,
    changedInMailbox: 'it was changed in the mailbox meanwhile, and the mailbox keeps its change',
    security_tls: 'TLS', security_starttls: 'STARTTLS', security_plain: 'none',
    auth_xoauth2: 'OAuth2 (XOAUTH2)', auth_password: 'Password',
  },
  nl: {
    title: 'E-mailinstellingen',
    signedOut: 'U bent niet aangemeld. Open de e-mailinstellingen opnieuw vanuit het CRM.',
    signedInAs: (user, mailbox) => `Aangemeld als ${user}, voor de mailbox ${mailbox}.`,
    signOut: 'Afmelden',
    provider: 'Maildienst',
    link: 'Mailbox koppelen',
    remove: 'Mailbox verwijderen',
    reauthorise: 'Mailbox koppelen',
    mailSettings: 'E-mailinstellingen',
    address: 'E-mailadres',
    host: 'IMAP-server',
    port: 'Poort',
    security: 'Beveiliging',
    username: 'Gebruikersnaam',
    auth: 'Aanmelding',
    readOnly: 'Ingevuld door het koppelen; alleen-lezen zolang de mailbox gekoppeld is.',
    emptyFields: 'Wordt automatisch ingevuld wanneer u een mailbox koppelt.',
    editFolders: 'Bewerk mappen',
    syncNow: 'Nu synchroniseren',
    folders: 'Verbind elke CRM-map met een map van uw mailbox',
    crmInbox: 'CRM-inbox',
    crmArchive: 'CRM-archief',
    crmDeleted: 'CRM verwijderde items',
    crmSent: 'CRM verzonden items',
    notSynced: '— niet synchroniseren —',
    saveFolders: 'Mappen opslaan',
    cancel: 'Annuleren',
    save: 'Opslaan',
    foldersSaved: 'Mappen opgeslagen. Mail uit de verbonden mappen komt nu in het CRM aan.',
    confirmRemove: 'Deze mailbox verwijderen? De synchronisatie stopt en de e-mailinstellingen worden leeggemaakt. Mail die al in het CRM staat, blijft.',
    removed: 'De mailbox is verwijderd. U kunt op ieder moment opnieuw koppelen.',
    linked: 'Mailbox gekoppeld. Kies nu "Bewerk mappen" om de mappen te verbinden.',
    waitingConsent: 'Geef toestemming in het nieuwe tabblad.',
    popupBlocked: 'De browser blokkeerde het nieuwe tabblad. Sta pop-ups toe voor het CRM en klik opnieuw op "Mailbox koppelen".',
    lastSync: 'Laatste synchronisatie',
    neverSynced: 'Nog niet gesynchroniseerd.',
    syncSummary: (at, c, u, r) => `${at}: ${c} nieuw, ${u} gewijzigd, ${r} verwijderd.`,
    syncStarted: 'Een synchronisatie is gestart.',
    adminTitle: 'Imap oAuth2',
    adminProviders: 'Maildiensten die gebruikers mogen koppelen',
    adminLinkFlag: 'Toon "Mailbox koppelen" aan gebruikers (feature flag)',
    adminSaved: 'Instellingen opgeslagen.',
    notConfigured: '(geen client-id in de instellingen)',
    messages: 'Berichten in het CRM',
    messageCount: (n) => `${n} bericht${n === 1 ? '' : 'en'}`,
    colFrom: 'Van', colSubject: 'Onderwerp', colFolder: 'Map', colDate: 'Datum',
    reply: 'Beantwoorden',
    replyTitle: (to) => `Antwoord aan ${to}`,
    replyText: 'Uw antwoord',
    send: 'Versturen',
    close: 'Sluiten',
    sending: 'Bezig met versturen…',
    sent: 'Verstuurd. Het verschijnt bij de volgende synchronisatie in het CRM.',
    queued: 'Wacht in de outbox: het gaat weg zodra de mailserver het aanneemt.',
    notSent: (why) => `Niet verstuurd: ${why}`,
    refusedRecipients: (list) => `de mailserver weigerde ${list}`,
    markRead: 'Markeer als gelezen',
    archive: 'Archiveren',
    delete: 'Verwijderen',
    notChanged: (why) => `Niet gewijzigd in de mailbox: ${why}`,
    changedInMailbox: 'het is intussen in de mailbox gewijzigd, en de mailbox houdt die wijziging',
    security_tls: 'TLS', security_starttls: 'STARTTLS', security_plain: 'geen',
    auth_xoauth2: 'OAuth2 (XOAUTH2)', auth_password: 'Wachtwoord',
  },
};

const query = new URLSearchParams(location.search);
const asked = query.get('lang') || navigator.language || 'en';
const lang = asked.toLowerCase().startsWith('nl') ? 'nl' : 'en';
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key] ?? TEXT.en[key] ?? key;
const said = (message) => (message ? message[lang] || message.en : '');
const CRM_FOLDERS = ['inbox', 'archive', 'deleted', 'sent'];

let session = null;
let status = null;

/// One API call: JSON in and out, the session's CSRF token on every change, errors thrown with
/// the service's message (in the panel's language).
async function api(method, path, body, extraHeaders = {}) {
  const url = `/api/v1${path}${path.includes('?') ? '&' : '?'}lang=${lang}`;
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || response.statusText);
    error.key = data && data.error && data.error.key;
    throw error;
  }
  return data;
}

const mailboxPath = (rest) => `/mailboxes/${encodeURIComponent(session.mailbox)}${rest}`;

function showProblem(text) {
  $('problem').textContent = text || '';
  $('problem').hidden = !text;
}

function notice(text) {
  $('notice').textContent = text || '';
}

/// Runs an action, showing its failure as the panel's problem message.
async function attempt(action) {
  try {
    showProblem('');
    await action();
  } catch (error) {
    showProblem(error.message);
    // A failure may have changed the mailbox's state (an authorisation found lapsed, say).
    if (status) refreshStatus().catch(() => {});
  }
}

function translateStatic() {
  document.documentElement.lang = lang;
  document.title = t('title');
  for (const element of document.querySelectorAll('[data-t]')) {
    element.textContent = t(element.dataset.t);
  }
}

function renderStatus() {
  const linked = status.state !== 'Unlinked';
  const select = $('provider');
  select.replaceChildren();
  const choices = linked
    ? [{ id: status.provider, display_name: (status.providers.find((p) => p.id === status.provider) || {}).display_name || status.provider }]
    : status.providers;
  for (const choice of choices) {
    select.append(new Option(choice.display_name, choice.id));
  }
  select.disabled = linked;

  const hints = $('provider-hints');
  hints.replaceChildren();
  if (!linked) {
    for (const hint of status.provider_hints) {
      const item = document.createElement('li');
      item.textContent = said(hint);
      hints.append(item);
    }
  }

  const link = $('link');
  link.hidden = linked;
  link.disabled = !status.link_available;
  $('link-unavailable').textContent = said(status.link_unavailable_reason);
  $('link-unavailable').hidden = status.link_available || linked;
  $('remove').hidden = !linked;

  const reauth = status.state === 'ReauthorizationNeeded';
  $('reauth').hidden = !reauth;
  $('reauth-reason').textContent = said(status.reauthorization_reason);

  const s = status.settings;
  const values = {
    'f-address': status.address || '',
    'f-host': s ? s.imap_host : '',
    'f-port': s ? String(s.imap_port) : '',
    'f-security': s ? t(`security_${s.security.toLowerCase()}`) : '',
    'f-username': s ? s.username : '',
    'f-auth': s ? t(`auth_${s.auth.toLowerCase()}`) : '',
  };
  for (const [id, value] of Object.entries(values)) {
    const input = $(id);
    input.value = value;
    input.readOnly = status.settings_read_only || !s;
    input.disabled = !s;
  }
  $('fields-note').textContent = status.settings_read_only ? t('readOnly') : t('emptyFields');
  $('edit-folders').hidden = !linked;
  $('sync-now').hidden = !linked;
  if (!linked) $('folders-form').hidden = true;
  $('messages').hidden = false;
}

async function refreshStatus() {
  status = await api('GET', mailboxPath(''));
  renderStatus();
}

async function refreshLastSync() {
  const reports = await api('GET', mailboxPath('/reports?limit=1'));
  const errors = $('last-sync-errors');
  errors.replaceChildren();
  if (reports.length === 0) {
    $('last-sync-text').textContent = t('neverSynced');
    return;
  }
  const { at, report } = reports[0];
  const sum = (field) => report.folders.reduce((n, f) => n + f[field], 0);
  $('last-sync-text').textContent = TEXT[lang].syncSummary(
    new Date(at).toLocaleString(lang), sum('created'), sum('updated'), sum('removed'));
  for (const folder of report.folders) {
    if (folder.error) {
      const item = document.createElement('li');
      item.textContent = `${folder.remote_folder}: ${said(folder.error.message)}`;
      errors.append(item);
    }
  }
}

/// A message's date in the panel's language and the browser's time zone.
const DATES = new Intl.DateTimeFormat(lang === 'nl' ? 'nl-NL' : 'en-GB', {
  dateStyle: 'medium',
  timeStyle: 'short',
});

function shownDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso || '' : DATES.format(date);
}

async function refreshMessages() {
  const page = await api('GET', mailboxPath('/messages?limit=50'));
  // Newest first, by the message's own date.
  const messages = [...page.messages].sort((a, b) =>
    (b.date_utc || '').localeCompare(a.date_utc || ''));
  const rows = messages.map((m) => {
    const row = document.createElement('tr');
    row.dataset.messageId = m.message_id || '';
    row.dataset.seen = String(Boolean(m.seen));
    const from = (m.from || []).map((a) => a.name || a.address).join(', ');
    for (const text of [from, m.subject || '', m.folder || '', shownDate(m.date_utc)]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement('td');
    const reply = document.createElement('button');
    reply.type = 'button';
    reply.className = 'reply';
    reply.textContent = t('reply');
    reply.addEventListener('click', () => openReply(m));
    actions.append(reply);
    // Each offered where it would change something.
    const offered = [
      ['act-seen', 'markRead', { seen: true }, !m.seen],
      ['act-archive', 'archive', { move_to: 'archive' }, m.folder !== 'archive'],
      ['act-delete', 'delete', { move_to: 'deleted' }, m.folder !== 'deleted'],
    ];
    for (const [className, label, action, useful] of offered) {
      if (!useful || m.removed) continue;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = className;
      button.textContent = t(label);
      button.addEventListener('click', () => act(m, action, button));
      actions.append(button);
    }
    row.append(actions);
    return row;
  });
  $('message-list').replaceChildren(...rows);
  $('messages-count').textContent = TEXT[lang].messageCount(page.messages.length);
}

/// One action on a message, through the mailbox's outbox; the list then shows the mailbox's
/// answer, and the panel says why when the mailbox kept its own.
async function act(message, action, button) {
  button.disabled = true;
  try {
    let entry = await api('POST', mailboxPath(`/messages/${message.id}/actions`), action,
      { 'Idempotency-Key': newIdempotencyKey() });
    const deadline = Date.now() + 60000;
    while ((entry.state === 'queued' || entry.state === 'sending') && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 250));
      entry = await api('GET', mailboxPath(`/outbox/${encodeURIComponent(entry.id)}`));
    }
    if (entry.state === 'failed') {
      const why = entry.outcome && entry.outcome.kind === 'changed-in-mailbox'
        ? t('changedInMailbox') : said(entry.outcome && entry.outcome.message) || '';
      notice(TEXT[lang].notChanged(why));
    }
    await refreshMessages();
  } catch (error) {
    notice(error.message);
    button.disabled = false;
  }
}

/// A key for one send: the same form sent twice (a double click, a retry) goes out once.
function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `panel-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

let replying = null;

function openReply(message) {
  const to = (message.from || [])[0];
  if (!to) return;
  replying = { message, to: to.address, key: newIdempotencyKey() };
  $('reply-title').textContent = TEXT[lang].replyTitle(to.name ? `${to.name} <${to.address}>` : to.address);
  $('reply-text').value = '';
  $('reply-outcome').textContent = '';
  $('reply-send').disabled = false;
  $('reply-cancel').textContent = t('cancel');
  $('reply').showModal();
}

/// Why an entry was not sent, from its outcome, in the panel's language.
function whyNotSent(outcome) {
  if (!outcome) return '';
  if (outcome.kind === 'recipients-refused') {
    return TEXT[lang].refusedRecipients((outcome.recipients || []).map((r) => r.address).join(', '));
  }
  return said(outcome.message) || outcome.kind || '';
}

async function sendReply(event) {
  event.preventDefault();
  if (!replying) return;
  const { message, to, key } = replying;
  $('reply-send').disabled = true;
  $('reply-outcome').textContent = t('sending');
  try {
    let entry = await api('POST', mailboxPath('/outbox'), {
      to: [to],
      text: $('reply-text').value,
      reply_to: message.id,
    }, { 'Idempotency-Key': key });
    const deadline = Date.now() + 60000;
    while ((entry.state === 'queued' || entry.state === 'sending') && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 500));
      entry = await api('GET', mailboxPath(`/outbox/${encodeURIComponent(entry.id)}`));
    }
    const outcome = $('reply-outcome');
    outcome.dataset.state = entry.state;
    outcome.dataset.messageId = entry.message_id;
    if (entry.state === 'sent') outcome.textContent = t('sent');
    else if (entry.state === 'failed') outcome.textContent = TEXT[lang].notSent(whyNotSent(entry.outcome));
    else outcome.textContent = t('queued');
    $('reply-cancel').textContent = t('close');
  } catch (error) {
    $('reply-outcome').textContent = TEXT[lang].notSent(error.message);
    $('reply-send').disabled = false;
  }
}

function startLink(provider, loginHint) {
  // The tab opens now, within the click, so no pop-up blocker stops it; the consent page's
  // address follows once the service has it.
  const tab = window.open('about:blank', '_blank');
  // The consent tab gets no handle back to the panel (as `noopener` would): the provider's pages
  // cannot navigate it. The callback tells the panel through a BroadcastChannel instead.
  if (tab) tab.opener = null;
  return attempt(async () => {
    if (!tab) throw new Error(t('popupBlocked'));
    try {
      const started = await api('POST', mailboxPath('/link'), { provider, login_hint: loginHint || null });
      tab.location.href = started.authorization_url;
      notice(t('waitingConsent'));
    } catch (error) {
      tab.close();
      throw error;
    }
  });
}

function option(value, label) {
  return new Option(label, value);
}

async function editFolders() {
  const [folders, suggestion, saved] = await Promise.all([
    api('GET', mailboxPath('/folders')),
    api('GET', mailboxPath('/suggestion')),
    api('GET', mailboxPath('/mapping')),
  ]);
  const anySaved = CRM_FOLDERS.some((f) => saved.mapping[f]);
  const chosen = anySaved ? saved.mapping : suggestion;
  for (const crm of CRM_FOLDERS) {
    const select = $(`map-${crm}`);
    select.replaceChildren(option('', t('notSynced')));
    for (const folder of folders.filter((f) => f.selectable)) {
      select.append(option(folder.name, folder.name));
    }
    select.value = chosen[crm] || '';
  }
  $('folders-form').hidden = false;
  $('map-inbox').focus();
}

async function saveFolders(event) {
  event.preventDefault();
  const mapping = {};
  for (const crm of CRM_FOLDERS) {
    mapping[crm] = $(`map-${crm}`).value || null;
  }
  await api('PUT', mailboxPath('/mapping'), mapping);
  $('folders-form').hidden = true;
  notice(t('foldersSaved'));
  $('edit-folders').focus();
}

async function removeMailbox() {
  const dialog = $('confirm-remove');
  dialog.showModal();
  const confirmed = await new Promise((resolve) => {
    $('confirm-remove-yes').onclick = () => resolve(true);
    $('confirm-remove-no').onclick = () => resolve(false);
    dialog.oncancel = () => resolve(false);
  });
  dialog.close();
  if (!confirmed) return;
  await api('POST', mailboxPath('/unlink'));
  notice(t('removed'));
  await refreshStatus();
}

async function refreshAdmin() {
  const settings = await api('GET', '/settings');
  const box = $('admin-providers');
  box.replaceChildren();
  for (const provider of settings.providers) {
    const line = document.createElement('p');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.id = `admin-provider-${provider.id}`;
    input.dataset.provider = provider.id;
    input.checked = provider.enabled;
    const label = document.createElement('label');
    label.htmlFor = input.id;
    label.textContent = provider.configured
      ? provider.display_name
      : `${provider.display_name} ${t('notConfigured')}`;
    line.append(input, ' ', label);
    box.append(line);
  }
  $('admin-link-flag').checked = settings.link_mailbox;
}

async function saveAdmin(event) {
  event.preventDefault();
  const providers = {};
  for (const input of document.querySelectorAll('#admin-providers input')) {
    providers[input.dataset.provider] = input.checked;
  }
  await api('PUT', '/settings', { link_mailbox: $('admin-link-flag').checked, providers });
  notice(t('adminSaved'));
  await refreshAdmin();
  await refreshStatus();
}

/// Follows the mailbox's events: new mail shows without a reload, and a link, unlink or lapsed
/// authorisation updates the panel.
let events = null;
function followEvents() {
  const stream = new EventSource(`/api/v1/events/stream?lang=${lang}`);
  const messageChanged = () => attempt(async () => { await refreshMessages(); await refreshLastSync(); });
  for (const kind of ['message.created', 'message.updated', 'message.removed']) {
    stream.addEventListener(kind, messageChanged);
  }
  for (const kind of ['mailbox.linked', 'mailbox.unlinked', 'mailbox.reauthorization-needed']) {
    stream.addEventListener(kind, () => attempt(refreshStatus));
  }
  stream.addEventListener('sync.failed', () => attempt(refreshLastSync));
  events = stream;
}

/// Word from the OAuth callback's tab: the link's outcome. (Held, so it is not collected.)
let callbacks = null;
function followCallbacks() {
  if (typeof BroadcastChannel === 'undefined') return;
  callbacks = new BroadcastChannel('mailsync-panel');
  callbacks.onmessage = (event) => {
    const result = event.data || {};
    notice(result.ok ? t('linked') : '');
    showProblem(result.ok ? '' : result.message);
    refreshStatus().catch((error) => showProblem(error.message));
  };
}

/// Ends the session on the server; the panel then says it is signed out.
async function signOut() {
  const response = await fetch('/panel/logout', {
    method: 'POST',
    headers: { 'X-CSRF-Token': session.csrf },
    credentials: 'same-origin',
  });
  if (!response.ok && response.status !== 401) throw new Error(response.statusText);
  if (events) events.close();
  $('email-settings').hidden = true;
  $('admin').hidden = true;
  $('signed-out').hidden = false;
}

async function start() {
  translateStatic();
  const response = await fetch('/panel/session', { credentials: 'same-origin' });
  if (!response.ok) {
    $('signed-out').hidden = false;
    return;
  }
  session = await response.json();
  $('email-settings').hidden = false;
  $('signed-in-as').textContent = TEXT[lang].signedInAs(session.user, session.mailbox);
  $('sign-out').addEventListener('click', () => attempt(signOut));
  $('link').addEventListener('click', () => startLink($('provider').value));
  $('reauthorise').addEventListener('click', () => startLink(status.provider, status.address));
  $('remove').addEventListener('click', () => attempt(removeMailbox));
  $('edit-folders').addEventListener('click', () => attempt(editFolders));
  $('cancel-folders').addEventListener('click', () => { $('folders-form').hidden = true; });
  $('folders-form').addEventListener('submit', (event) => attempt(() => saveFolders(event)));
  $('reply-form').addEventListener('submit', sendReply);
  $('reply-cancel').addEventListener('click', () => $('reply').close());
  $('sync-now').addEventListener('click', () => attempt(async () => {
    await api('POST', mailboxPath('/sync'));
    notice(t('syncStarted'));
  }));
  followCallbacks();
  followEvents();
  await attempt(async () => {
    await refreshStatus();
    await refreshLastSync();
    await refreshMessages();
  });
  // A pass that changed nothing raises no event: the last sync is looked at now and then too.
  setInterval(() => refreshLastSync().catch(() => {}), 30000);
  if (session.admin) {
    $('admin').hidden = false;
    $('admin-form').addEventListener('submit', (event) => attempt(() => saveAdmin(event)));
    await attempt(refreshAdmin);
  }
  document.body.dataset.ready = 'true';
}

start();
