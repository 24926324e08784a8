/**
 * The live view in a browser: sign in with a viewer token, list live sessions, watch one in a real
 * terminal (xterm.js, served by the bastion itself), with its metadata, typed input and viewers
 * beside it; moderators can end it with a reason. The token stays in this tab (sessionStorage) and
 * goes to the socket as a subprotocol, never in a URL.
 */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bastion: live sessions</title>
<link rel="stylesheet" href="/assets/xterm.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
  header { padding: 8px 16px; background: #222; display: flex; gap: 16px; align-items: center; }
  main { padding: 16px; }
  table { border-collapse: collapse; }
  td, th { padding: 4px 10px; text-align: left; border-bottom: 1px solid #333; }
  tr.session { cursor: pointer; } tr.session:hover { background: #222; }
  .bg { color: #fff; background: #b00; padding: 1px 6px; border-radius: 3px; font-weight: bold; }
  #watch { display: flex; gap: 16px; }
  #side { min-width: 300px; max-width: 380px; }
  #side dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0; }
  #side dt { color: #999; } #side dd { margin: 0; word-break: break-word; }
  #keys { font-family: monospace; white-space: pre-wrap; max-height: 280px; overflow: auto; background: #1b1b1b; padding: 6px; }
  #status { color: #fc6; } .error { color: #f66; }
  button, input { font: inherit; }
</style>
</head>
<body>
<header><strong>bastion · live sessions</strong><span id="who"></span><span id="status"></span></header>
<main>
  <form id="login" hidden>
    <p>Viewer token (from <code>bastion token issue NAME --role auditor</code>):</p>
    <input id="token" type="password" size="60" autocomplete="off"> <button>Sign in</button>
  </form>
  <section id="list" hidden><h2>Live sessions</h2><table><thead><tr><th>user</th><th>target</th><th>ticket</th><th></th><th>started</th><th>size</th><th>viewers</th></tr></thead><tbody id="rows"></tbody></table><p><button id="refresh">Refresh</button> <button id="signout">Sign out</button></p></section>
  <section id="watch" hidden>
    <div><div id="term"></div></div>
    <div id="side">
      <p><button id="back">← all sessions</button> <button id="end" hidden>End session…</button></p>
      <dl id="meta"></dl>
      <h3>Typed input</h3><div id="keys"></div>
      <h3>Watching</h3><div id="viewers"></div>
    </div>
  </section>
</main>
<script src="/assets/xterm.js"></script>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const text = (el, s) => { el.textContent = s; return el; };
let token = sessionStorage.getItem('bastion-token') || '';
let role = '';
let ws, term;

function show(which) { for (const id of ['login', 'list', 'watch']) $(id).hidden = id !== which; }
function status(s, error) { text($('status'), s).className = error ? 'error' : ''; }

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
  if (r.status === 401 || r.status === 403) { sessionStorage.removeItem('bastion-token'); token = ''; show('login'); throw new Error((await r.json()).error); }
  return r.json();
}

async function list() {
  if (ws) { ws.close(); ws = undefined; }
  try {
    const r = await api('/api/sessions');
    role = r.viewer.role;
    text($('who'), r.viewer.name + ' (' + r.viewer.role + ')');
    const rows = $('rows');
    rows.replaceChildren();
    for (const s of r.sessions) {
      const tr = document.createElement('tr');
      tr.className = 'session';
      tr.dataset.id = s.id;
      for (const v of [s.user, s.target, s.ticket, '', new Date(s.started_at).toLocaleString(), s.cols + 'x' + s.rows, s.viewers.join(', ')]) tr.appendChild(text(document.createElement('td'), v));
      if (s.break_glass) tr.children[3].appendChild(text(document.createElement('span'), 'BREAK-GLASS')).className = 'bg';
      tr.onclick = () => watch(s.id);
      rows.appendChild(tr);
    }
    if (r.sessions.length === 0) rows.appendChild(text(document.createElement('tr'), 'no live sessions'));
    show('list');
    status('');
  } catch (e) { status(e.message, true); }
}

function watch(id) {
  show('watch');
  $('end').hidden = role !== 'moderator';
  $('keys').textContent = '';
  if (term) term.dispose();
  term = new Terminal({ disableStdin: true, scrollback: 1000, convertEol: false });
  term.open($('term'));
  const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
  ws = new WebSocket(proto + location.host + '/api/sessions/' + encodeURIComponent(id) + '/watch', ['bastion.v1', 'bastion.token.' + token]);
  ws.binaryType = 'arraybuffer';
  status('connecting…');
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') { term.write(new Uint8Array(ev.data)); return; }
    const m = JSON.parse(ev.data);
    if (m.type === 'hello' || m.type === 'screen') {
      term.reset(); term.resize(m.cols, m.rows); term.write(m.screen);
      if (m.type === 'hello') { meta(m.session); status('live'); } else status(m.reason);
    } else if (m.type === 'resize') term.resize(m.cols, m.rows);
    else if (m.type === 'input') keys(m.redacted !== undefined ? '[redacted: ' + m.redacted + ' bytes]\\n' : m.data.replace(/\\r/g, '⏎\\n').replace(/[\\x00-\\x1f\\x7f]/g, (c) => c === '\\n' ? c : '^' + String.fromCharCode(c.charCodeAt(0) + 64)));
    else if (m.type === 'marker') keys('— ' + m.label + '\\n');
    else if (m.type === 'viewers') text($('viewers'), m.viewers.join(', '));
    else if (m.type === 'end') status('ended: ' + m.reason + (m.exit_code !== null ? ', exit status ' + m.exit_code : '') + (m.signal ? ', signal ' + m.signal : ''));
    else if (m.type === 'error') status(m.message, true);
  };
  ws.onclose = (ev) => { if (ev.code !== 1000) status('disconnected (' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ')', true); };
}

function meta(s) {
  const dl = $('meta');
  dl.replaceChildren();
  for (const [k, v] of [['session', s.id], ['user', s.user], ['target', s.target], ['ticket', s.ticket], ['reason', s.reason], ['access', s.via + (s.break_glass ? ' (BREAK-GLASS)' : '')], ['from', s.source_ip], ['started', new Date(s.started_at).toLocaleString()]]) {
    dl.appendChild(text(document.createElement('dt'), k));
    dl.appendChild(text(document.createElement('dd'), v));
  }
}
function keys(s) { const k = $('keys'); k.textContent += s; k.scrollTop = k.scrollHeight; }

$('login').onsubmit = (e) => { e.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('bastion-token', token); list(); };
$('refresh').onclick = list;
$('back').onclick = list;
$('signout').onclick = () => { sessionStorage.removeItem('bastion-token'); token = ''; show('login'); };
$('end').onclick = () => {
  const reason = prompt('Why are you ending this session? The user will see this.');
  if (reason) ws.send(JSON.stringify({ type: 'terminate', reason }));
};
if (token) list(); else show('login');
</script>
</body>
</html>
`;
