/* doanket district dashboard. Every figure comes from the aggregator's JSON API (/api/v1/...);
 * live updates arrive as Server-Sent Events (/api/v1/stream) and trigger a refetch. */
(function () {
  "use strict";

  var state = { info: null, period: null, report: null, units: null, events: null, prev: {},
                timer: null, loading: false, again: false, version: 0, children: null,
                planLabel: "" };

  /* ---- formatting (Vietnamese: dots group thousands, comma for decimals) ---- */
  function fmtInt(n) {
    if (n === null || n === undefined) { return "—"; }
    var neg = n < 0, s = String(Math.abs(Math.trunc(n))), out = "";
    while (s.length > 3) { out = "." + s.slice(-3) + out; s = s.slice(0, -3); }
    return (neg ? "-" : "") + s + out;
  }
  function fmtMoney(n) { return fmtInt(n) + " đ"; }
  /* Same rules as common/money.c money_format_short: truncated, never rounded up. */
  function fmtMoneyShort(n) {
    var neg = n < 0; n = Math.abs(n);
    if (n < 1000000) { return (neg ? "-" : "") + fmtMoney(n); }
    var unit = n >= 1000000000 ? 1000000000 : 1000000;
    var word = unit === 1000000000 ? " tỷ đ" : " triệu đ";
    var whole = Math.floor(n / unit);
    var frac = Math.floor((n % unit) * 100 / unit);
    var f = frac < 10 ? "0" + frac : String(frac);
    f = f.replace(/0+$/, "");
    return (neg ? "-" : "") + fmtInt(whole) + (f ? "," + f : "") + word;
  }
  function fmtAgo(seconds) {
    if (seconds < 0) { return "chưa liên lạc"; }
    if (seconds < 90) { return "vừa xong"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " phút trước"; }
    if (seconds < 172800) { return Math.floor(seconds / 3600) + " giờ trước"; }
    return Math.floor(seconds / 86400) + " ngày trước";
  }
  function fmtTime(unix) {
    if (!unix) { return "—"; }
    var d = new Date(unix * 1000);
    function p(x) { return x < 10 ? "0" + x : String(x); }
    return p(d.getHours()) + ":" + p(d.getMinutes()) + " " + p(d.getDate()) + "/" +
      p(d.getMonth() + 1) + "/" + d.getFullYear();
  }
  function fmtDate(iso) {
    if (!iso) { return "—"; }
    var p = iso.split("-");
    return p[2] + "/" + p[1] + "/" + p[0];
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function $(id) { return document.getElementById(id); }

  /* A number cell carrying its raw value and key, so tests and flashes can find it. */
  function numCell(unit, key, raw, text) {
    var td = el("td", "n", text);
    td.setAttribute("data-unit", unit);
    td.setAttribute("data-key", key);
    td.setAttribute("data-raw", raw);
    var id = unit + "/" + key;
    if (state.prev[id] !== undefined && state.prev[id] !== raw) { td.classList.add("flash"); }
    state.prev[id] = raw;
    return td;
  }

  function getJSON(url) {
    return fetch(url, { cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body && body.error ? body.error : "HTTP " + r.status); }
        return body;
      });
    });
  }

  /* ---- period selector ---- */
  var PARTS = [["", "Cả năm"], ["Q1", "Quý I"], ["Q2", "Quý II"], ["Q3", "Quý III"],
    ["Q4", "Quý IV"], ["H1", "6 tháng đầu năm"], ["H2", "6 tháng cuối năm"], ["9M", "9 tháng"]];
  for (var m = 1; m <= 12; m++) { PARTS.push([(m < 10 ? "0" : "") + m, "Tháng " + m]); }

  function periodFromHash() {
    var m = /period=([0-9A-Za-z.\-]+)/.exec(location.hash);
    return m ? m[1] : null;
  }

  function setupPeriod(def) {
    var p = periodFromHash() || def;
    var year = parseInt(p.slice(0, 4), 10), part = p.length > 5 ? p.slice(5) : "";
    var ys = $("period-year"), ps = $("period-part"), now = new Date().getFullYear();
    var years = [];
    for (var y = Math.max(now, year); y >= Math.min(2019, year); y--) { years.push(y); }
    years.forEach(function (y) {
      var o = el("option", null, "Năm " + y); o.value = String(y); ys.appendChild(o);
    });
    PARTS.forEach(function (pp) {
      var o = el("option", null, pp[1]); o.value = pp[0]; ps.appendChild(o);
    });
    ys.value = String(year);
    ps.value = PARTS.some(function (pp) { return pp[0] === part; }) ? part : "";
    state.period = p;
    function change() {
      state.period = ys.value + (ps.value ? "-" + ps.value : "");
      location.hash = "period=" + state.period;
      refresh();
    }
    ys.addEventListener("change", change);
    ps.addEventListener("change", change);
  }

  function setExports() {
    ["xlsx", "csv", "json"].forEach(function (f) {
      $("export-" + f).href = "/api/v1/export?period=" + encodeURIComponent(state.period) +
        "&format=" + f;
    });
  }

  /* ---- cards ---- */
  /* " buổi" for propaganda_sessions: the indicator's unit from the report ("" if none). */
  function unitOf(key) {
    var list = (state.report && state.report.indicators) || [];
    for (var i = 0; i < list.length; i++) {
      if (list[i].key === key && list[i].unit) { return " " + list[i].unit; }
    }
    return "";
  }

  function card(key, label, raw, text, sub, target, money) {
    var c = el("div", "card" + (money ? " money" : ""));
    c.appendChild(el("div", "k", label));
    var v = el("div", "v", text);
    v.setAttribute("data-key", key);
    v.setAttribute("data-raw", raw);
    var id = "total/" + key;
    if (state.prev[id] !== undefined && state.prev[id] !== raw) { v.classList.add("flash"); }
    state.prev[id] = raw;
    c.appendChild(v);
    if (sub) { c.appendChild(el("div", "s", sub)); }
    if (target !== undefined && target > 0) {
      var pct = Math.floor(raw * 100 / target);
      var bar = el("div", "progress" + (pct < 50 ? " low" : ""));
      var fill = el("span");
      fill.style.width = Math.min(100, pct) + "%";
      bar.appendChild(fill);
      c.appendChild(bar);
      /* "Kế hoạch năm 2023: 400 buổi — đạt 12%": the plan's own period, which a quarter's
       * figures are measured against (progress to date). */
      var label = state.planLabel ? " " + state.planLabel.charAt(0).toLowerCase() +
        state.planLabel.slice(1) : "";
      var t = el("div", "s", "Kế hoạch" + label + ": " +
        (money ? fmtMoneyShort(target) : fmtInt(target) + unitOf(key)) + " — đạt " + pct + "%");
      t.setAttribute("data-target", key);
      c.appendChild(t);
    }
    return c;
  }

  function poorLedger(ledgers) {
    for (var i = 0; i < ledgers.length; i++) { if (ledgers[i].fund === 1) { return ledgers[i]; } }
    return null;
  }

  function renderCards(r) {
    var v = r.totals.values, t = (r.plan && r.plan.targets) || {};
    state.planLabel = r.plan ? r.plan.period_label : "";
    var box = $("cards");
    box.innerHTML = "";
    var held = v.unity_day_areas_held, total = v.unity_day_areas_total;
    var led = poorLedger(r.totals.ledger) || { closing: 0 };
    box.appendChild(card("propaganda_sessions", "Tuyên truyền", v.propaganda_sessions,
      fmtInt(v.propaganda_sessions) + " buổi", fmtInt(v.propaganda_participants) + " lượt người dự",
      t.propaganda_sessions));
    box.appendChild(card("trainings", "Tập huấn", v.trainings, fmtInt(v.trainings) + " buổi",
      fmtInt(v.training_participants) + " lượt người; " + fmtInt(v.study_tours) +
      " cuộc tham quan", t.trainings));
    box.appendChild(card("models_new", "Mô hình xây dựng mới", v.models_new,
      fmtInt(v.models_new) + " mô hình", fmtInt(v.models_kept) + " mô hình được duy trì",
      t.models_new));
    box.appendChild(card("unity_day_areas_held", "Ngày hội Đại đoàn kết", held,
      fmtInt(held) + "/" + fmtInt(total) + " KDC",
      fmtInt(v.unity_day_participants) + " lượt người tham gia", t.unity_day_areas_held));
    box.appendChild(card("poor_fund_receipts", "Quỹ “Vì người nghèo”: thu", v.poor_fund_receipts,
      fmtMoneyShort(v.poor_fund_receipts), "Chi " + fmtMoneyShort(v.poor_fund_spending) +
      "; tồn cuối kỳ " + fmtMoneyShort(led.closing), t.poor_fund_receipts, true));
    box.appendChild(card("houses_new", "Nhà Đại đoàn kết", v.houses_new,
      fmtInt(v.houses_new) + " căn xây mới", fmtInt(v.houses_repaired) + " căn sửa chữa; " +
      fmtInt(v.households_helped) + " lượt hộ được hỗ trợ", t.houses_new));
    box.appendChild(card("contribution_amount", "Nhân dân đóng góp", v.contribution_amount,
      fmtMoneyShort(v.contribution_amount), fmtInt(v.land_m2) + " m² đất; " +
      fmtInt(v.workdays) + " ngày công", t.contribution_amount, true));
    box.appendChild(card("inspections", "Kiểm tra, giám sát", v.inspections,
      fmtInt(v.inspections) + " cuộc", "Khen thưởng " + fmtInt(v.commended_collectives) +
      " tập thể, " + fmtInt(v.commended_individuals) + " cá nhân", t.inspections));
  }

  /* ---- communes table ---- */
  var COLS = [
    ["propaganda_sessions", "Tuyên truyền (buổi)"],
    ["propaganda_participants", "Lượt người dự tuyên truyền"],
    ["trainings", "Tập huấn (buổi)"],
    ["models", "Mô hình (mới + duy trì)"],
    ["unity_day", "Ngày hội ĐĐK (KDC)"],
    ["poor_fund_receipts", "Quỹ VNN thu"],
    ["poor_fund_spending", "Quỹ VNN chi"],
    ["houses", "Nhà ĐĐK (mới/sửa)"],
    ["households_helped", "Lượt hộ được hỗ trợ"],
    ["land_m2", "Hiến đất (m²)"],
    ["workdays", "Ngày công"],
  ];

  function statusRank(u) {
    if (u && u.stale) { return -1; }
    if (!u || u.status === "never") { return 0; }
    if (u.status === "silent") { return 1; }
    return 2;
  }

  function valueCells(tr, unit, v) {
    COLS.forEach(function (c) {
      var k = c[0];
      if (k === "models") {
        tr.appendChild(numCell(unit, k, v.models_new + v.models_kept,
          fmtInt(v.models_new + v.models_kept)));
      } else if (k === "unity_day") {
        tr.appendChild(numCell(unit, k, v.unity_day_areas_held,
          fmtInt(v.unity_day_areas_held) + "/" + fmtInt(v.unity_day_areas_total)));
      } else if (k === "houses") {
        tr.appendChild(numCell(unit, k, v.houses_new + v.houses_repaired,
          fmtInt(v.houses_new) + "/" + fmtInt(v.houses_repaired)));
      } else if (k === "poor_fund_receipts" || k === "poor_fund_spending") {
        tr.appendChild(numCell(unit, k, v[k], fmtMoney(v[k])));
      } else {
        tr.appendChild(numCell(unit, k, v[k], fmtInt(v[k])));
      }
    });
  }

  function renderCommunes(r, units) {
    var byUnit = {};
    units.units.forEach(function (u) { byUnit[u.unit] = u; });
    var rows = r.rows.slice();
    rows.sort(function (a, b) {
      var ua = byUnit[a.unit], ub = byUnit[b.unit];
      var d = statusRank(ua) - statusRank(ub);
      if (d !== 0) { return d; }
      if (ua && ub && ua.status === "silent") { return ub.silent_for - ua.silent_for; }
      return a.name.localeCompare(b.name, "vi");
    });
    var t = $("communes");
    t.innerHTML = "";
    var head = el("tr");
    ["Xã, thị trấn", "Tình trạng", "Liên lạc cuối", "Chờ gửi", "Bản ghi"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    COLS.forEach(function (c) { head.appendChild(el("th", null, c[1])); });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var tb = el("tbody");
    rows.forEach(function (row) {
      var u = byUnit[row.unit];
      var from = u && u.child ? childByName(u.child) : null;
      var tr = el("tr", u && u.stale ? "stale" : null);
      tr.setAttribute("data-unit", row.unit);
      tr.setAttribute("data-stale", u && u.stale ? "true" : "false");
      var name = el("td", "name", row.name);
      name.appendChild(el("div", "sub", "Mã " + row.unit + (from ? " · " + from.unit_name : "")));
      tr.appendChild(name);
      var st = el("td", "c"), badge;
      if (u && u.stale) {
        badge = el("span", "badge stale", "Số liệu cũ");
        st.appendChild(badge);
        /* fresh_at: when the figures were last current at their source (also two levels down,
           e.g. a nation's commune whose district the province cannot reach). */
        var at = u.fresh_at !== undefined ? u.fresh_at : (from ? from.last_pull : 0);
        var since = at > 0 ? "lấy lúc " + fmtClock(at) : "chưa lấy được";
        var note = el("span", "stale-note", since);
        if (at > 0) { note.title = fmtTime(at); }
        st.appendChild(note);
        badge.title = (from && !from.stale
          ? "Đơn vị cấp dưới của " + from.unit_name + " không lấy được số liệu mới"
          : "Không lấy được số liệu mới từ " + (from ? from.unit_name : "đơn vị cấp dưới")) +
          ": các con số của xã này là số liệu cũ.";
      } else if (!u || u.status === "never") {
        badge = el("span", "badge never", "Chưa báo cáo");
      } else if (u.status === "silent") {
        badge = el("span", "badge silent", "Mất liên lạc " + fmtAgo(u.silent_for).replace(" trước", ""));
      } else {
        badge = el("span", "badge ok", "Đang hoạt động");
      }
      badge.setAttribute("data-status", u && u.stale ? "stale" : u ? u.status : "never");
      if (!badge.parentNode) { st.appendChild(badge); }
      tr.appendChild(st);
      var lc = el("td", "nw", u && u.last_contact ? fmtAgo(u.silent_for) : "—");
      if (u && u.last_contact) { lc.title = fmtTime(u.last_contact); }
      tr.appendChild(lc);
      tr.appendChild(numCell(row.unit, "backlog", u ? u.backlog : 0, fmtInt(u ? u.backlog : 0)));
      tr.appendChild(numCell(row.unit, "events", row.events, fmtInt(row.events)));
      valueCells(tr, row.unit, row.values);
      tb.appendChild(tr);
    });
    var anyStale = units.units.some(function (u) { return u.stale; });
    var tot = el("tr", "total" + (anyStale ? " stale" : ""));
    var totName = el("td", null, "Tổng cộng");
    if (anyStale) { totName.appendChild(el("span", "stale-note", "gồm số liệu cũ")); }
    tot.appendChild(totName);
    tot.appendChild(el("td", "c", r.rows.length + " đơn vị"));
    tot.appendChild(el("td"));
    tot.appendChild(el("td"));
    tot.appendChild(numCell("total", "events", r.totals.events, fmtInt(r.totals.events)));
    valueCells(tot, "total", r.totals.values);
    tb.appendChild(tot);
    t.appendChild(tb);
  }

  /* ---- checklist ---- */
  function renderChecklist(r) {
    var t = $("checklist");
    t.innerHTML = "";
    if (r.rows.length === 0) { return; }
    var head = el("tr");
    head.appendChild(el("th", null, "Xã, thị trấn"));
    r.rows[0].checklist.forEach(function (c) { head.appendChild(el("th", null, c.label)); });
    head.appendChild(el("th", null, "Đã làm"));
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var tb = el("tbody");
    var stale = {};
    (state.units ? state.units.units : []).forEach(function (u) { if (u.stale) { stale[u.unit] = true; } });
    r.rows.forEach(function (row) {
      var tr = el("tr", stale[row.unit] ? "stale" : null);
      var nm = el("td", "name", row.name);
      if (stale[row.unit]) { nm.appendChild(el("span", "stale-note", "Số liệu cũ")); }
      tr.appendChild(nm);
      var done = 0;
      row.checklist.forEach(function (c) {
        var mark = c.state === "done" ? "✔" : c.state === "partial" ? "◐" : "—";
        var td = el("td", "c " + c.state, mark);
        td.setAttribute("data-unit", row.unit);
        td.setAttribute("data-item", c.item);
        td.setAttribute("data-state", c.state);
        td.title = c.label + ": " + c.detail;
        if (c.state !== "none") { td.appendChild(el("span", "cnt", c.detail)); }
        if (c.state === "done") { done++; }
        tr.appendChild(td);
      });
      tr.appendChild(el("td", "c", done + "/" + row.checklist.length));
      tb.appendChild(tr);
    });
    t.appendChild(tb);
  }

  /* ---- charts ---- */
  function renderCharts(r) {
    var led = poorLedger(r.totals.ledger);
    DkCharts.hbars($("chart-sources"), led ? led.by_source.map(function (s) {
      return { label: s.label, value: s.amount };
    }) : [], fmtMoneyShort);
    DkCharts.hbars($("chart-contents"), r.contents.map(function (c) {
      return { label: "Nội dung " + c.content, value: c.events, note: "hoạt động" };
    }), fmtInt);
    var contents = $("chart-contents");
    var list = el("div", "legend");
    r.contents.forEach(function (c) {
      list.appendChild(el("div", null, c.content + ". " + c.label));
    });
    contents.appendChild(list);
    DkCharts.months($("chart-months"), r.months.map(function (m) {
      var p = m.month.split("-");
      return { label: "T" + parseInt(p[1], 10) + "/" + p[0].slice(2), activities: m.activities,
        receipts: m.receipts, spending: m.spending };
    }), [
      { key: "activities", label: "Số hoạt động", color: "#0b4f8a", fmt: fmtInt },
      { key: "receipts", label: "Thu quỹ", color: "#2f8a3a", fmt: fmtMoneyShort },
      { key: "spending", label: "Chi quỹ", color: "#a3161a", fmt: fmtMoneyShort },
    ]);
  }

  /* ---- ledger ---- */
  function renderLedger(r) {
    var box = $("ledger");
    box.innerHTML = "";
    r.totals.ledger.forEach(function (l) {
      var t = el("table", "grid ledger");
      var cap = el("caption", null, l.label);
      cap.style.textAlign = "left"; cap.style.fontWeight = "600"; cap.style.padding = "4px 0";
      t.appendChild(cap);
      function line(label, raw, cls, key) {
        var tr = el("tr", cls);
        tr.appendChild(el("td", null, label));
        tr.appendChild(numCell("fund" + l.fund, key, raw, fmtMoney(raw)));
        t.appendChild(tr);
      }
      line("Số dư đầu kỳ", l.opening, "total", "opening");
      line("Thu trong kỳ", l.receipts, "total", "receipts");
      l.by_source.forEach(function (s) {
        if (s.amount) { line("   – " + s.label, s.amount, null, "source" + s.source); }
      });
      line("Chi trong kỳ", l.spending, "total", "spending");
      l.by_purpose.forEach(function (p) {
        if (p.amount) { line("   – " + p.label, p.amount, null, "purpose" + p.purpose); }
      });
      line("Số dư cuối kỳ", l.closing, "total", "closing");
      box.appendChild(t);
    });
  }

  /* ---- organisers ---- */
  function renderOrganisers(r) {
    var t = $("organisers");
    t.innerHTML = "";
    var total = 0, totalMoney = 0;
    r.organisers.forEach(function (o) { total += o.events; totalMoney += o.receipts; });
    var head = el("tr");
    ["Tổ chức", "Hoạt động", "Tỷ lệ", "Lượt người", "Vận động quỹ"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var tb = el("tbody");
    r.organisers.forEach(function (o) {
      var tr = el("tr");
      tr.appendChild(el("td", null, o.name));
      tr.appendChild(numCell("org" + o.organiser, "events", o.events, fmtInt(o.events)));
      var pct = total > 0 ? Math.round(o.events * 1000 / total) / 10 : 0;
      var td = el("td");
      var bar = el("div", "progress");
      var fill = el("span"); fill.style.width = pct + "%"; bar.appendChild(fill);
      td.appendChild(el("span", null, String(pct).replace(".", ",") + "%"));
      td.appendChild(bar);
      tr.appendChild(td);
      tr.appendChild(numCell("org" + o.organiser, "participants", o.participants,
        fmtInt(o.participants)));
      tr.appendChild(numCell("org" + o.organiser, "receipts", o.receipts, fmtMoneyShort(o.receipts)));
      tb.appendChild(tr);
    });
    t.appendChild(tb);
  }

  /* ---- recent events ---- */
  function renderEvents(ev) {
    var t = $("events");
    t.innerHTML = "";
    var head = el("tr");
    ["Nhận lúc", "Đơn vị", "Ngày diễn ra", "Số", "Nội dung", "Số liệu", "Tình trạng"].forEach(
      function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var tb = el("tbody");
    ev.events.slice(0, 15).forEach(function (e) {
      var tr = el("tr", e.effective ? null : "ev-void");
      tr.appendChild(el("td", "nw", fmtTime(e.received_at)));
      tr.appendChild(el("td", "nw", e.commune_name || String(e.commune)));
      tr.appendChild(el("td", "nw", fmtDate(e.date)));
      tr.appendChild(el("td", "n", "#" + e.seq));
      var what = e.title || e.description || e.kind || "";
      var desc = el("td", null, what);
      if (e.title && e.description) { desc.appendChild(el("div", "sub", e.description)); }
      tr.appendChild(desc);
      var fig = [];
      if (e.amount_text) { fig.push(e.amount_text); }
      if (e.measures) {
        if (e.measures.sessions) { fig.push(fmtInt(e.measures.sessions) + " buổi"); }
        if (e.measures.participants) { fig.push(fmtInt(e.measures.participants) + " lượt người"); }
      }
      tr.appendChild(el("td", null, fig.join("; ")));
      var st;
      if (e.type === "void") { st = "Hủy bản ghi #" + e.target_seq; }
      else if (e.voided_by) { st = "Đã hủy (bởi #" + e.voided_by + ")"; }
      else if (!e.effective && e.head && e.head !== e.seq) { st = "Đã được sửa bởi #" + e.head; }
      else if (e.type === "correction") { st = "Sửa bản ghi #" + e.corrects_seq; }
      else { st = "Đang tính"; }
      tr.appendChild(el("td", null, st));
      tb.appendChild(tr);
    });
    if (ev.events.length === 0) {
      var tr = el("tr"), td = el("td", null, "Chưa nhận bản ghi nào.");
      td.colSpan = 7; tr.appendChild(td); tb.appendChild(tr);
    }
    t.appendChild(tb);
  }

  /* ---- child aggregators (at a province or above) ---- */
  /* "2 phút trước": how long ago, in words people use. */
  function fmtAgoShort(seconds) {
    if (seconds < 60) { return Math.max(0, seconds) + " giây trước"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " phút trước"; }
    if (seconds < 172800) { return Math.floor(seconds / 3600) + " giờ trước"; }
    return Math.floor(seconds / 86400) + " ngày trước";
  }
  /* "10:32" today, "10:32 28/11/2025" another day. */
  function fmtClock(unix) {
    var full = fmtTime(unix), today = fmtTime(Math.floor(Date.now() / 1000));
    return full.slice(6) === today.slice(6) ? full.slice(0, 5) : full;
  }

  function childByName(name) {
    var list = state.children ? state.children.children : [];
    for (var i = 0; i < list.length; i++) { if (list[i].name === name) { return list[i]; } }
    return null;
  }

  function pullNow(name, button) {
    button.disabled = true;
    button.textContent = "Đang lấy số liệu…";
    fetch("/api/v1/children/" + encodeURIComponent(name) + "/pull", { method: "POST" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (r.status !== 202) { throw new Error(body && body.error ? body.error : "HTTP " + r.status); }
        });
      }).then(function () {
        /* The pull's result arrives as a live update; look again shortly in any case. */
        setTimeout(soon, 1500);
        setTimeout(soon, 5000);
      }).catch(function (err) {
        button.disabled = false;
        button.textContent = "Lấy số liệu ngay";
        showError("không yêu cầu được việc lấy số liệu: " + err.message);
      });
  }

  function renderChildren(ch) {
    var panel = $("children-panel");
    if (!ch || ch.children.length === 0) { panel.hidden = true; return; }
    panel.hidden = false;
    var t = $("children");
    t.innerHTML = "";
    var head = el("tr");
    ["Đơn vị", "Tình trạng", "Lần lấy số liệu gần nhất", "Số liệu của", "Sự kiện", ""].forEach(
      function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead"); thead.appendChild(head); t.appendChild(thead);
    var tb = el("tbody");
    var stale = [];
    ch.children.forEach(function (c) {
      var tr = el("tr", c.stale ? "stale" : null);
      tr.setAttribute("data-child", c.name);
      tr.setAttribute("data-stale", c.stale ? "true" : "false");
      var name = el("td", "name", c.unit_name);
      name.appendChild(el("div", "sub", "Mã " + c.unit + (c.name ? " · " + c.name : "")));
      tr.appendChild(name);
      var st = el("td", "c"), badge;
      if (c.stale) { badge = el("span", "badge stale", "Số liệu cũ"); stale.push(c); }
      else { badge = el("span", "badge fresh", "Đã cập nhật"); }
      badge.setAttribute("data-stale", c.stale ? "true" : "false");
      st.appendChild(badge);
      if (c.pulling) { st.appendChild(el("div", "sub", "đang lấy số liệu…")); }
      tr.appendChild(st);
      var when = el("td");
      var line = c.last_pull > 0
        ? "Cập nhật lúc " + fmtClock(c.last_pull) + ", " + fmtAgoShort(c.age)
        : "Chưa lấy được số liệu lần nào";
      var wl = el("div", "nw", line);
      wl.setAttribute("data-role", "updated");
      if (c.last_pull > 0) { wl.title = fmtTime(c.last_pull); }
      when.appendChild(wl);
      if (c.last_pull > 0) {
        when.appendChild(el("div", "sub", "Phiên bản " + fmtInt(c.child_version) +
          (c.epoch ? " · kỳ dữ liệu " + c.epoch.slice(0, 8) : "")));
      }
      if (c.failed_pulls > 0) {
        var e = el("div", "err", "Mất kết nối " + fmtInt(c.failed_pulls) + " lần" +
          (c.last_error ? " — lỗi: " + c.last_error : ""));
        e.setAttribute("data-role", "failures");
        if (c.last_attempt) { e.title = "Lần thử cuối lúc " + fmtTime(c.last_attempt); }
        when.appendChild(e);
      }
      if (!c.configured) {
        when.appendChild(el("div", "err", "Không còn trong cấu hình: số liệu không được cập nhật nữa"));
      }
      tr.appendChild(when);
      tr.appendChild(el("td", "nw", fmtInt(c.units.length) + " đơn vị"));
      tr.appendChild(numCell("child-" + c.name, "events", c.events, fmtInt(c.events)));
      var act = el("td", "c");
      if (c.configured) {
        /* Always clickable: asking while a pull is in flight is harmless (that pull counts). */
        var b = el("button", null, "Lấy số liệu ngay");
        b.type = "button";
        b.setAttribute("data-pull", c.name);
        b.addEventListener("click", function () { pullNow(c.name, b); });
        act.appendChild(b);
      }
      tr.appendChild(act);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    var w = $("stale-warning");
    /* Communes whose figures are old although their child is fresh: a level further down could
       not be reached (the child passes that on with each commune's fresh_at). */
    var deep = (state.units ? state.units.units : []).filter(function (u) {
      var from = u.child ? childByName(u.child) : null;
      return u.stale && from && !from.stale;
    });
    if (stale.length || deep.length) {
      w.innerHTML = "";
      w.appendChild(el("b", null, "Chú ý: "));
      var parts = [];
      if (stale.length) {
        parts.push("số liệu của " + stale.map(function (c) {
          return c.unit_name + (c.last_pull > 0 ? " (cập nhật lần cuối lúc " + fmtClock(c.last_pull) + ")"
            : " (chưa lấy được lần nào)");
        }).join(", ") + " là số liệu cũ");
      }
      if (deep.length) {
        parts.push("số liệu của " + deep.length + " xã (qua " + deep.map(function (u) {
          return childByName(u.child).unit_name;
        }).filter(function (n, i, a) { return a.indexOf(n) === i; }).join(", ") +
          ") là số liệu cũ vì cấp dưới không lấy được số liệu mới");
      }
      w.appendChild(document.createTextNode(parts.join("; ") +
        ". Các tổng số và các xã đánh dấu * dưới đây chưa phải số liệu hiện tại."));
      w.hidden = false;
    } else {
      w.hidden = true;
    }
  }

  /* ---- loading ---- */
  function showError(msg) {
    var e = $("error");
    if (msg) { e.textContent = "Không tải được số liệu: " + msg; e.hidden = false; }
    else { e.hidden = true; }
  }

  function refresh() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    setExports();
    var p = encodeURIComponent(state.period);
    var parent = state.info && state.info.children > 0;
    Promise.all([getJSON("/api/v1/report?period=" + p), getJSON("/api/v1/units"),
                 getJSON("/api/v1/events?limit=15"),
                 parent ? getJSON("/api/v1/children") : Promise.resolve(null)]).then(function (res) {
      var r = res[0];
      state.report = r; state.units = res[1]; state.events = res[2]; state.children = res[3];
      renderChildren(res[3]);
      state.version = r.version;
      $("period-label").textContent = r.label + " (" + fmtDate(r.from) + " – " + fmtDate(r.to) + ")";
      renderCards(r);
      renderCommunes(r, res[1]);
      renderChecklist(r);
      renderCharts(r);
      renderLedger(r);
      renderOrganisers(r);
      renderEvents(res[2]);
      $("foot-version").textContent = "Phiên bản số liệu " + r.version + ", lúc " +
        fmtTime(r.generated_at);
      document.body.setAttribute("data-version", String(r.version));
      showError(null);
    }).catch(function (err) {
      showError(err.message);
    }).then(function () {
      state.loading = false;
      if (state.again) { state.again = false; refresh(); }
    });
  }

  function soon() {
    if (state.timer) { return; }
    state.timer = setTimeout(function () { state.timer = null; refresh(); }, 250);
  }

  function connect() {
    if (!window.EventSource) { setInterval(refresh, 30000); return; }
    var live = $("live"), text = $("live-text");
    var es = new EventSource("/api/v1/stream");
    function mark(on) {
      live.setAttribute("data-state", on ? "live" : "down");
      text.textContent = on ? "Trực tiếp" : "Mất kết nối, đang thử lại…";
    }
    es.addEventListener("hello", function () { mark(true); });
    es.addEventListener("update", function (e) {
      mark(true);
      var d = JSON.parse(e.data);
      text.textContent = "Trực tiếp · cập nhật " + fmtTime(Math.floor(Date.now() / 1000)).slice(0, 5);
      if (d.version !== state.version) { soon(); }
    });
    es.addEventListener("reload", function () { mark(true); soon(); });
    es.onopen = function () { mark(true); };
    es.onerror = function () { mark(false); };
  }

  getJSON("/api/v1/info").then(function (info) {
    state.info = info;
    $("unit-name").textContent = info.name;
    var whole = { province: "toàn tỉnh", national: "toàn quốc", commune: "toàn xã" }[info.level] ||
      "toàn huyện";
    var level = { province: "tỉnh", national: "trung ương", commune: "xã" }[info.level] || "huyện";
    $("ledger-scope").textContent = whole;
    $("foot-level").textContent = level;
    $("cards").setAttribute("aria-label", "Chỉ tiêu chính " + whole);
    document.title = "Theo dõi Cuộc vận động — " + info.name;
    setupPeriod(info.default_period);
    refresh();
    connect();
    /* A child turns stale as time passes, with no update to announce it: look every 30 s. */
    if (info.children > 0) { setInterval(refresh, 30000); }
  }).catch(function (err) { showError(err.message); });
})();
