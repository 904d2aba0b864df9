"""ops/genlib.py — shared helpers of ops/demo, ops/gendemo.py and ops/gen: the official units (config/units/) and Z85 keys.

Python 3 standard library only. Imported by ops/demo, ops/gen and the province/demo system tests."""
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
UNITS_CSV = os.path.join(SOURCE, "config", "units", "dak-nong-2023.csv")

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85_encode(data: bytes) -> str:
    assert len(data) % 4 == 0
    out = []
    for i in range(0, len(data), 4):
        v = int.from_bytes(data[i:i + 4], "big")
        chunk = []
        for _ in range(5):
            chunk.append(Z85[v % 85])
            v //= 85
        out.extend(reversed(chunk))
    return "".join(out)


def load_units(path=UNITS_CSV):
    """Returns {code: {code, level, parent, type, name}} from the units CSV."""
    units = {}
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            code = int(r["code"])
            units[code] = {
                "code": code,
                "level": r["level"],
                "parent": int(r["parent"]) if r["parent"] else None,
                "type": r["type"],
                "name": r["name_vi"],
                "full": f'{r["type"]} {r["name_vi"]}',
            }
    return units


def communes_of(units, district):
    return sorted((u for u in units.values() if u["parent"] == district and u["level"] == "commune"),
                  key=lambda u: u["code"])


def areas_for(code):
    """Residential areas per commune for the demo: not official (DOMAIN.md: typically 5-20,
    unconfirmed), so a stable made-up number per code in that range."""
    return 5 + (code * 7919) % 16


# ---- the demo generator: realistic activities and fund movements (DOMAIN.md magnitudes) -------
#
# Design. A simulated calendar walks through 2023 (the year of the seed plan and of the units in
# config/units/): every `events_per_day` events the day advances. Each event is drawn for one
# commune from weights that follow the plan's rhythm: propaganda most often, training and meetings
# regularly, models, inspections, residents' contributions; receipts into the "Vì người nghèo"
# fund all year and more in its peak month (17/10 - 18/11); spending on Đại đoàn kết houses,
# repairs, livelihood; Tết gift packs in January; the Great National Unity Day in every commune
# around 18/11, reported as x of y residential areas. Every commune first records the fund's
# opening balance. Amounts are whole đồng in the orders of magnitude of DOMAIN.md. The generator
# records through the real `dk-agent record` command (so everything passes the agent's own
# validation and outbox), and now and then writes a CSV file with the Vietnamese template headers
# into a commune's inbox (write to a temporary name, then rename, as the inbox requires).
import datetime
import random

# proto enum numbers (proto/doanket.proto); dk-agent accepts numbers for every code list
K_PROPAGANDA, K_TRAINING, K_STUDY_TOUR, K_MODEL, K_FESTIVAL, K_INSPECTION = 1, 2, 3, 4, 5, 6
K_REVIEW, K_COMMENDATION, K_CONTRIBUTION, K_STATUS, K_MEETING = 7, 8, 9, 10, 11
FUND_POOR, FUND_CAMPAIGN = 1, 2
FLOW_RECEIPT, FLOW_SPENDING, FLOW_OPENING = 1, 2, 3
SRC_STATE, SRC_BUSINESS, SRC_ORG, SRC_INDIVIDUAL, SRC_RESIDENTS = 1, 2, 3, 4, 5
P_NEW_HOUSE, P_REPAIR, P_LIVELIHOOD, P_HEALTH, P_EDUCATION, P_TET = 1, 2, 3, 4, 5, 6
P_C_PROPAGANDA, P_C_TRAINING, P_C_FESTIVAL = 20, 21, 26

DONORS = ["Công ty TNHH Cà phê Đắk Mil", "Ngân hàng Nông nghiệp chi nhánh Đắk Nông",
          "Hợp tác xã Nông nghiệp Thuận An", "Công ty Điện lực Đắk Nông",
          "Doanh nghiệp tư nhân Hòa Bình", "Bà con thôn 3", "Chùa Pháp Hoa", "Ông Nguyễn Văn Tâm"]
TITLES = {
    K_PROPAGANDA: ["Hội nghị tuyên truyền cuộc vận động", "Tuyên truyền trên loa truyền thanh xã",
                   "Đăng tin trên trang Zalo của xã", "Phát tờ rơi về xây dựng nông thôn mới"],
    K_TRAINING: ["Tập huấn nghiệp vụ công tác Mặt trận", "Tập huấn kỹ thuật trồng cà phê bền vững"],
    K_MODEL: ["Mô hình tuyến đường hoa", "Mô hình camera an ninh", "Mô hình thu gom rác thải"],
    K_INSPECTION: ["Giám sát thực hiện tiêu chí nông thôn mới"],
    K_MEETING: ["Họp phối hợp với UBND xã và các tổ chức thành viên"],
    K_CONTRIBUTION: ["Nhân dân đóng góp làm đường giao thông nông thôn", "Hiến đất mở rộng đường"],
}


def money_round(v, step=100000):
    return max(step, int(v) // step * step)


class Generator:
    """Draws realistic events for a set of communes. communes: list of dicts with code, full,
    areas. rng: random.Random (seeded for reproducible tests)."""

    def __init__(self, communes, rng=None, start=datetime.date(2023, 1, 3), events_per_day=None):
        self.communes = communes
        self.rng = rng or random.Random()
        self.day = start
        self.events_per_day = events_per_day or max(2, len(communes) // 2)
        self.count = 0
        self.pending = []               # (commune, kind, options) queued for special days
        self.opened = set()
        self.unity_done = set()         # years the Unity Day was queued
        self.tet_done = set()

    def date(self):
        return self.day.isoformat()

    def _advance(self):
        self.count += 1
        if self.count % self.events_per_day == 0:
            self.day += datetime.timedelta(days=1)
            if self.day.year > 2023:    # loop over the campaign year again
                self.day = datetime.date(2023, 1, 3)
            d = self.day
            if d.month == 11 and d.day >= 16 and (d.year, "u") not in self.unity_done:
                self.unity_done.add((d.year, "u"))
                for c in self.communes:
                    self.pending.append((c, "activity", self.unity_day(c)))
            if d.month == 1 and d.day >= 10 and (d.year, "t") not in self.tet_done:
                self.tet_done.add((d.year, "t"))
                for c in self.communes:
                    self.pending.append((c, "fund", self.tet_gifts(c)))

    def next(self):
        """Returns (commune dict, 'activity'|'fund', {option: value}) for the next event."""
        if self.pending:
            ev = self.pending.pop(0)
            self._advance()
            return ev
        r = self.rng
        c = r.choice(self.communes)
        if c["code"] not in self.opened:
            self.opened.add(c["code"])
            self._advance()
            return c, "fund", {"date": self.date(), "fund": FUND_POOR, "flow": FLOW_OPENING,
                               "amount": money_round(r.randint(20, 250) * 1000000, 1000000),
                               "title": "Số dư đầu kỳ Quỹ Vì người nghèo"}
        peak = (self.day.month == 10 and self.day.day >= 17) or (self.day.month == 11 and self.day.day <= 18)
        x = r.random()
        if x < (0.42 if peak else 0.25):
            kind, opts = "fund", self.receipt(c, peak)
        elif x < 0.36 + (0.17 if peak else 0.0):
            kind, opts = "fund", self.spending(c)
        else:
            kind, opts = "activity", self.activity(c)
        self._advance()
        return c, kind, opts

    def activity(self, c):
        r = self.rng
        k = r.choices([K_PROPAGANDA, K_TRAINING, K_MODEL, K_INSPECTION, K_MEETING, K_CONTRIBUTION,
                       K_COMMENDATION, K_STUDY_TOUR], [40, 10, 8, 6, 8, 14, 4, 2])[0]
        o = {"date": self.date(), "kind": k, "area": r.randint(1, c["areas"]) if r.random() < 0.6 else None,
             "organiser": r.choice([0, 0, 0, 1, 2, 3, 4])}
        o["contents"] = ",".join(str(n) for n in sorted(r.sample(range(1, 6), r.randint(1, 2))))
        if k == K_PROPAGANDA:
            ch = r.choice([1, 1, 2, 3, 4, 5, 5, 6, 7, 8])
            o.update(channel=ch, sessions=r.randint(1, 3))
            if ch in (4, 5, 6, 7):
                o["items"] = r.randint(2, 60)
            else:
                o["participants"] = r.randint(30, 300)
        elif k in (K_TRAINING, K_STUDY_TOUR):
            o.update(sessions=1, participants=r.randint(20, 80))
        elif k == K_MODEL:
            o.update(**{"model-stage": r.choice([1, 2, 2])})
        elif k == K_INSPECTION:
            o.update(sessions=1, participants=r.randint(5, 20))
        elif k == K_MEETING:
            o.update(sessions=1, participants=r.randint(10, 40))
        elif k == K_CONTRIBUTION:
            o.update(amount=money_round(r.randint(5, 200) * 1000000),
                     land=r.choice([0, 0, r.randint(50, 2000)]) or None,
                     workdays=r.randint(20, 500))
        elif k == K_COMMENDATION:
            o.update(collectives=r.randint(0, 4), individuals=r.randint(1, 12))
        o["title"] = r.choice(TITLES.get(k, ["Hoạt động cuộc vận động"]))
        return {kk: v for kk, v in o.items() if v is not None}

    def unity_day(self, c):
        r = self.rng
        held = max(1, c["areas"] - r.randint(0, 2))
        return {"date": "2023-11-18" if self.day.year == 2023 else self.date(),
                "kind": K_FESTIVAL, "festival": 1, "contents": "1,2,3,4,5",
                "areas-held": held, "areas-total": c["areas"],
                "participants": held * r.randint(40, 300), "families": r.randint(5, 40),
                "title": "Ngày hội Đại đoàn kết toàn dân tộc năm 2023"}

    def tet_gifts(self, c):
        r = self.rng
        packs = r.randint(20, 60)
        value = r.choice([300000, 500000, 500000, 1000000])
        return {"date": self.date(), "fund": FUND_POOR, "flow": FLOW_SPENDING, "purpose": P_TET,
                "amount": packs * value, "gift-packs": packs, "households": packs,
                "title": "Tặng quà Tết Nguyên đán Quý Mão cho hộ nghèo"}

    def receipt(self, c, peak):
        r = self.rng
        src = r.choices([SRC_BUSINESS, SRC_ORG, SRC_INDIVIDUAL, SRC_RESIDENTS, SRC_STATE],
                        [25, 20, 25, 25, 5])[0]
        if src == SRC_STATE:
            return {"date": self.date(), "fund": FUND_CAMPAIGN, "flow": FLOW_RECEIPT,
                    "source": SRC_STATE, "amount": 20000000,
                    "title": "Kinh phí hỗ trợ Ban công tác Mặt trận (TT 121/2017/TT-BTC)"}
        hi = 80 if peak else 30
        o = {"date": self.date(), "fund": FUND_POOR, "flow": FLOW_RECEIPT, "source": src,
             "amount": money_round(r.randint(1, hi) * 1000000 * r.choice([0.5, 1, 1, 2]))}
        if src in (SRC_BUSINESS, SRC_INDIVIDUAL):
            o["donor"] = r.choice(DONORS)
        o["title"] = "Ủng hộ Quỹ Vì người nghèo" + (" (Tháng cao điểm)" if peak else "")
        return o

    def spending(self, c):
        r = self.rng
        p = r.choices([P_NEW_HOUSE, P_REPAIR, P_LIVELIHOOD, P_HEALTH, P_EDUCATION, P_C_PROPAGANDA],
                      [20, 20, 25, 15, 15, 5])[0]
        o = {"date": self.date(), "fund": FUND_POOR, "flow": FLOW_SPENDING, "purpose": p}
        if p == P_NEW_HOUSE:
            o.update(amount=money_round(r.randint(15, 60) * 1000000, 1000000), houses=1,
                     households=1, title="Xây nhà Đại đoàn kết cho hộ nghèo")
        elif p == P_REPAIR:
            o.update(amount=money_round(r.randint(5, 20) * 1000000, 1000000), houses=1,
                     households=1, title="Sửa chữa nhà cho hộ cận nghèo")
        elif p == P_LIVELIHOOD:
            n = r.randint(1, 6)
            o.update(amount=n * money_round(r.randint(3, 10) * 1000000, 1000000), households=n,
                     title="Hỗ trợ sinh kế (con giống, cây giống)")
        elif p in (P_HEALTH, P_EDUCATION):
            n = r.randint(1, 10)
            o.update(amount=n * 500000, households=n,
                     title="Hỗ trợ thẻ BHYT" if p == P_HEALTH else "Hỗ trợ học sinh nghèo")
        else:
            o.update(fund=FUND_CAMPAIGN, amount=money_round(r.randint(1, 5) * 1000000),
                     title="In pano, áp phích tuyên truyền")
        return o


# CSV files a commune drops into its inbox: Vietnamese template headers (config/templates/).
CSV_ACTIVITY_COLUMNS = [("date", "Ngày"), ("kind", "Loại hoạt động"), ("contents", "Nội dung"),
                        ("channel", "Hình thức"), ("sessions", "Số buổi"),
                        ("participants", "Số lượt người"), ("area", "Khu dân cư"),
                        ("title", "Tiêu đề")]
CSV_FUND_COLUMNS = [("date", "Ngày"), ("fund", "Quỹ"), ("flow", "Thu/chi"), ("source", "Nguồn"),
                    ("purpose", "Mục đích chi"), ("amount", "Số tiền (đồng)"),
                    ("households", "Số hộ"), ("donor", "Nhà tài trợ"), ("title", "Tiêu đề")]


def csv_text(rows, columns, sep=";"):
    """A CSV file (UTF-8 with BOM, CRLF, as Excel writes it) of rows (option dicts)."""
    def q(v):
        s = "" if v is None else str(v)
        if any(ch in s for ch in (sep, '"', "\n", "\r")):
            s = '"' + s.replace('"', '""') + '"'
        return s
    lines = [sep.join(h for _, h in columns)]
    for r in rows:
        lines.append(sep.join(q(r.get(k)) for k, _ in columns))
    return "\ufeff" + "\r\n".join(lines) + "\r\n"


def drop_csv(inbox, name, text):
    """Writes text into inbox/name the way the inbox wants it: a temporary name, then rename."""
    os.makedirs(inbox, exist_ok=True)
    tmp = os.path.join(inbox, "." + name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(inbox, name))


def record_argv(agent, config, kind, opts):
    """argv of `dk-agent -c CONFIG record KIND --opt value ...`."""
    argv = [agent, "-c", config, "record", kind]
    for k, v in opts.items():
        argv += ["--" + k, str(v)]
    return argv
