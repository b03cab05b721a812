// The context of IMAP command handlers (handler.hpp): keeping the selected view in step with
// its folder (the untagged updates every command may end with), reading sequence sets against
// it, and what the command files share (responses, uid-sets, dates).
#include "imap/commands/handler.hpp"
#include "imap/search_return.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace splitmail::home::imap {
namespace {
constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
} // namespace

std::string ok(const command& c, std::string_view t) {
    return c.tag + " OK " + std::string(t) + "\r\n";
}

std::string no(const command& c, std::string_view t) {
    return c.tag + " NO " + std::string(t) + "\r\n";
}

std::string bad(const command& c, std::string_view t) {
    return c.tag + " BAD " + std::string(t) + "\r\n";
}

std::string handler_context::mailbox_name_out(const std::string& stored) const {
    if (!ext_.rev2) return stored;
    auto u = mutf7_to_utf8(stored);
    return u ? *u : stored; // a name not valid as modified UTF-7 is shown as it is on disk
}

void handler_context::announce_flags(std::string& out) {
    if (!sel_) return;
    auto& s = *sel_;
    std::string now = s.f->flag_list(false);
    if (now == s.announced_flags) return;
    out += "* FLAGS " + now + "\r\n";
    if (!s.readonly)
        out += "* OK [PERMANENTFLAGS " + s.f->flag_list(true) + "] Flags permitted\r\n";
    s.announced_flags = std::move(now);
}

void handler_context::sync_view(bool allow_expunge, std::string& out) {
    if (!sel_) return;
    auto& s = *sel_;
    s.f->sync();
    // Before any FETCH below (another session's STORE or APPEND may have added a keyword).
    announce_flags(out);
    if (!s.readonly) {
        for (auto uid : s.f->move_new_to_cur()) s.recent.insert(uid);
        // APPEND/COPY/MOVE arrivals (in cur/ already): the first IMAP4rev1 session to see them
        // claims their \Recent (RFC 3501 2.3.2); an IMAP4rev2 session leaves it for others.
        if (!ext_.rev2)
            for (auto uid : s.f->claim_recent()) s.recent.insert(uid);
    }
    const auto& msgs = s.f->messages();
    if (allow_expunge && s.f->expunge_count() != s.synced_expunges) {
        // RFC 5267 4.3: a search context drops them while their numbers still hold.
        if (!s.contexts.empty()) contexts_before_expunge(out);
        std::vector<std::uint32_t> gone;
        uid_list kept;
        for (std::size_t i = 0; i < s.uids.size(); ++i) {
            std::uint32_t uid = s.uids[i];
            if (!s.f->find(uid)) {
                gone.push_back(uid);
                s.recent.erase(uid);
                // RFC 3501 7.4.1: each EXPUNGE renumbers the messages after it, so the number
                // sent is the position among the messages still reported.
                if (!ext_.qresync) out += "* " + std::to_string(kept.size() + 1) + " EXPUNGE\r\n";
                continue;
            }
            kept.push_back(uid);
        }
        s.uids = std::move(kept);
        // RFC 7162 3.2.10: with QRESYNC enabled, VANISHED replaces EXPUNGE.
        if (ext_.qresync && !gone.empty()) out += "* VANISHED " + compact_uid_set(gone) + "\r\n";
        s.synced_expunges = s.f->expunge_count();
    }
    if (s.f->highest_modseq() != s.synced_modseq) {
        // Changed since the last sync: MODSEQ above synced_modseq (a folder whose HIGHESTMODSEQ
        // went down was rebuilt: every message is reported), unless already sent as it is now.
        bool rebuilt = s.f->highest_modseq() < s.synced_modseq;
        std::sort(s.reported.begin(), s.reported.end());
        for (std::size_t i = 0; i < s.uids.size(); ++i) {
            const auto* m = s.f->find(s.uids[i]);
            if (!m || (!rebuilt && m->modseq <= s.synced_modseq)) continue;
            if (std::binary_search(s.reported.begin(), s.reported.end(),
                                   std::pair<std::uint32_t, std::uint64_t>(m->uid, m->modseq)))
                continue;
            out += "* " + std::to_string(i + 1) + " FETCH (";
            if (ext_.qresync) out += "UID " + std::to_string(m->uid) + " "; // RFC 7162 3.2.10
            out += "FLAGS " + s.f->flags_text(*m, s.recent.count(m->uid) > 0);
            if (ext_.condstore) out += " MODSEQ (" + std::to_string(m->modseq) + ")";
            out += ")\r\n";
        }
    }
    std::vector<std::pair<std::uint32_t, std::uint64_t>>().swap(s.reported);
    std::uint32_t last = s.uids.empty() ? 0 : s.uids.back();
    bool grew = false;
    auto first_new =
        std::upper_bound(msgs.begin(), msgs.end(), last,
                         [](std::uint32_t u, const message_entry& m) { return u < m.uid; });
    for (auto it = first_new; it != msgs.end(); ++it) {
        s.uids.push_back(it->uid);
        if (s.readonly && (it->in_new || s.f->recent_unclaimed(it->uid))) s.recent.insert(it->uid);
        grew = true;
    }
    if (ext_.rev2) s.recent.clear(); // RFC 9051 (appendix E): no \Recent, no RECENT response
    if (grew) {
        out += "* " + std::to_string(s.uids.size()) + " EXISTS\r\n";
        if (!ext_.rev2) out += "* " + std::to_string(s.recent.size()) + " RECENT\r\n";
    }
    s.synced_modseq = s.f->highest_modseq();
    // After EXISTS: an ADDTO never names a message the client has not been told of.
    if (!s.contexts.empty()) contexts_after_sync(out);
}

std::vector<std::size_t> handler_context::resolve_set(const sequence_set& set, bool uid) const {
    std::vector<std::size_t> out;
    if (!sel_) return out;
    const auto& u = sel_->uids;
    if (set.saved) {
        for (std::size_t i = 0; i < u.size(); ++i)
            if (std::binary_search(saved.begin(), saved.end(), u[i])) out.push_back(i);
        return out;
    }
    if (u.empty()) return out;
    if (uid) {
        std::uint32_t largest = u.back();
        for (std::size_t i = 0; i < u.size(); ++i)
            if (set.contains(u[i], largest)) out.push_back(i);
    } else {
        auto n = static_cast<std::uint32_t>(u.size());
        for (std::uint32_t i = 1; i <= n; ++i)
            if (set.contains(i, n)) out.push_back(i - 1);
    }
    return out;
}

std::string compact_uid_set(const std::vector<std::uint32_t>& uids) {
    // RFC 4315 3: uid-set in the order of the source messages; ranges only for runs that
    // ascend in both lists, which holds because we copy in UID order.
    return ordered_set(uids);
}

std::string vanished_set(const std::vector<folder::uid_range>& gone, const sequence_set* within,
                         std::uint32_t largest) {
    std::vector<folder::uid_range> keep;
    if (!within) {
        keep = gone;
    } else {
        // The set's ranges with `*` resolved (RFC 3501 9: "4:2" is "2:4"), sorted and merged,
        // then intersected with `gone` in one walk over both.
        std::vector<folder::uid_range> want;
        want.reserve(within->ranges.size());
        for (const auto& r : within->ranges) {
            std::uint32_t a = r.lo == 0 ? largest : r.lo, b = r.hi == 0 ? largest : r.hi;
            if (a > b) std::swap(a, b);
            want.push_back({a, b});
        }
        std::sort(want.begin(), want.end(), [](auto& x, auto& y) { return x.lo < y.lo; });
        std::vector<folder::uid_range> merged;
        for (auto r : want) {
            if (!merged.empty() && r.lo <= merged.back().hi + std::uint64_t{1})
                merged.back().hi = std::max(merged.back().hi, r.hi);
            else
                merged.push_back(r);
        }
        std::size_t i = 0, j = 0;
        while (i < gone.size() && j < merged.size()) {
            std::uint32_t lo = std::max(gone[i].lo, merged[j].lo);
            std::uint32_t hi = std::min(gone[i].hi, merged[j].hi);
            if (lo <= hi) keep.push_back({lo, hi});
            if (gone[i].hi < merged[j].hi)
                ++i;
            else
                ++j;
        }
    }
    std::string out;
    for (auto r : keep) {
        if (!out.empty()) out += ',';
        out += std::to_string(r.lo);
        if (r.hi > r.lo) out += ":" + std::to_string(r.hi);
    }
    return out;
}

std::string format_date(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::optional<std::int64_t> parse_date(std::string_view s) {
    // RFC 3501 9 date-text: 1*2DIGIT "-" date-month "-" 4DIGIT
    int d = 0, y = 0;
    char mon[4] = {};
    std::string str(s);
    if (std::sscanf(str.c_str(), "%2d-%3c-%4d", &d, mon, &y) != 3) return std::nullopt;
    int m = -1;
    for (int i = 0; i < 12; ++i)
        if (iequals(mon, months[i])) m = i;
    if (m < 0 || d < 1 || d > 31 || y < 1900) return std::nullopt;
    std::tm tm{};
    tm.tm_mday = d;
    tm.tm_mon = m;
    tm.tm_year = y - 1900;
    return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> parse_date_time(std::string_view s) {
    // RFC 3501 9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may start with a space)
    std::string str(s);
    while (!str.empty() && str[0] == ' ') str.erase(0, 1);
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, zone = 0;
    char mon[4] = {}, sign = '+';
    if (std::sscanf(str.c_str(), "%2d-%3c-%4d %2d:%2d:%2d %c%4d", &d, mon, &y, &hh, &mm, &ss, &sign,
                    &zone) != 8)
        return std::nullopt;
    auto day = parse_date(std::to_string(d) + "-" + std::string(mon, 3) + "-" + std::to_string(y));
    if (!day || hh > 23 || mm > 59 || ss > 60 || (sign != '+' && sign != '-')) return std::nullopt;
    std::int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;
    return *day + hh * 3600 + mm * 60 + ss - (sign == '+' ? off : -off);
}

} // namespace splitmail::home::imap
