/*
 * assets: the dashboard's style sheet and its one script, served as files
 * (/style.css, /live.js) so that the Content-Security-Policy can forbid
 * every inline style and script. Nothing here is fetched from elsewhere:
 * no fonts, no libraries; the page works offline and without the script.
 */

extern const char web_style_css[];
extern const char web_live_js[];

const char web_style_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}\n"
    "header{background:#1f3a5f;color:#fff;padding:.6em 1em;display:flex;align-items:baseline;"
    "gap:2em}\n"
    "header h1{font-size:1.2em;margin:0}header .member{font-weight:normal;opacity:.8}\n"
    "header a{color:#fff;margin-right:1em}\n"
    ".cols{display:flex;gap:1em;padding:1em}main{flex:1;min-width:0;overflow-x:auto}\n"
    "aside{flex:0 0 16em;font-size:.9em;background:#fff;border:1px solid #d0d5dc;padding:.5em 1em;"
    "align-self:flex-start}\n"
    "aside ul{list-style:none;padding:0;margin:0;font-size:.9em}aside li{border-bottom:1px solid "
    "#eee;padding:.3em 0;overflow-wrap:anywhere}\n"
    "aside li.new{background:#fff6d5}\n"
    "h2{font-size:1.1em}table{border-collapse:collapse;background:#fff;width:100%}\n"
    "th,td{border:1px solid #d0d5dc;padding:.3em .5em;text-align:left;vertical-align:top}\n"
    "th{background:#e8ecf1}td.num{text-align:right;white-space:nowrap}\n"
    "td.title{min-width:12em;overflow-wrap:break-word}td.cov,td.date{white-space:nowrap}\n"
    "tr.prio-critical td:first-child{color:#b00020;font-weight:bold}\n"
    "tr.prio-high td:first-child{color:#c05600}\n"
    ".overdue{color:#b00020;font-size:.85em}\n"
    ".revoked{color:#b00020;font-size:.85em}\n"
    "svg.bar{vertical-align:middle}.bar-bg{fill:#e3e6ea}.bar-acc{fill:#5b8def}"
    ".bar-del{fill:#1f9d55}\n"
    ".pct{font-size:.85em;color:#555}.sector{color:#555;font-size:.9em}\n"
    "form.filters{margin:.5em 0 1em}form.filters label{margin-right:.8em}\n"
    ".note{color:#666;font-size:.9em}.error{color:#b00020}\n"
    "dl.need{display:grid;grid-template-columns:9em 1fr;gap:.2em 1em}dl.need dt{font-weight:bold}\n"
    "dl.need dd{margin:0;overflow-wrap:anywhere}.description{white-space:pre-wrap}\n"
    ".chart{margin-bottom:1.5em}.chart svg{display:block;max-width:100%;height:auto;"
    "background:#fff;border:1px solid #d0d5dc}\n"
    ".chart text{font-size:13px;fill:#1b1f24}.pledged{fill:#5b8def}.delivered{fill:#1f9d55}\n"
    "table.totals{width:auto;margin-top:.5em}\n"
    ".key-pledged,.key-delivered{padding:0 .5em;color:#fff}.key-pledged{background:#5b8def}"
    ".key-delivered{background:#1f9d55}\n";

/* Listens to /events and puts each message at the top of the feed
 * (textContent only: the text is the bus's, never markup). */
const char web_live_js[] =
    "'use strict';\n"
    "(function () {\n"
    "  var feed = document.getElementById('feed');\n"
    "  var live = document.getElementById('live');\n"
    "  if (!feed || !window.EventSource) return;\n"
    "  var es = new EventSource('/events');\n"
    "  es.addEventListener('open', function () {\n"
    "    if (live) live.textContent = 'Live: new messages appear here; reload for the board.';\n"
    "  });\n"
    "  es.addEventListener('bus', function (ev) {\n"
    "    var li = document.createElement('li');\n"
    "    li.className = 'new';\n"
    "    li.textContent = ev.data;\n"
    "    feed.insertBefore(li, feed.firstChild);\n"
    "    while (feed.children.length > 50) feed.removeChild(feed.lastChild);\n"
    "  });\n"
    "  es.addEventListener('error', function () {\n"
    "    if (live) live.textContent = 'Disconnected; retrying.';\n"
    "  });\n"
    "})();\n";
