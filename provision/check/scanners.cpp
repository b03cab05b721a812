// The "scanners" check, pure half; see scanners.hpp.
#include "check/scanners.hpp"

#include "check/context.hpp"

#include <array>
#include <charconv>

namespace splitmail::provision::check {
namespace {

bool printable(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) return false;
    }
    return true;
}

std::string shown(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u >= 0x7f) ? '?' : c;
    }
    return out;
}

template <class T>
std::optional<T> number(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::string day_text(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

} // namespace

std::optional<std::time_t> parse_ctime(std::string_view text) {
    // "Www Mmm dd hh:mm:ss yyyy" (ctime(3), day padded with a space); split on blanks.
    std::array<std::string_view, 5> f;
    std::size_t n = 0;
    while (!text.empty()) {
        auto b = text.find_first_not_of(' ');
        if (b == std::string_view::npos) break;
        text.remove_prefix(b);
        auto e = text.find(' ');
        if (n == f.size()) return std::nullopt;
        f[n++] = text.substr(0, e);
        text.remove_prefix(e == std::string_view::npos ? text.size() : e);
    }
    if (n != 5) return std::nullopt;
    static constexpr std::array<std::string_view, 7> days{"Sun", "Mon", "Tue", "Wed",
                                                          "Thu", "Fri", "Sat"};
    static constexpr std::array<std::string_view, 12> months{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    bool day_ok = false;
    for (auto d : days) day_ok |= f[0] == d;
    if (!day_ok) return std::nullopt;
    int month = -1;
    for (std::size_t i = 0; i < months.size(); ++i)
        if (f[1] == months[i]) month = static_cast<int>(i);
    if (month < 0) return std::nullopt;
    auto mday = number<int>(f[2]);
    auto year = number<int>(f[4]);
    const auto& hms = f[3];
    if (!mday || !year || *mday < 1 || *mday > 31 || *year < 1970 || *year > 9999 ||
        hms.size() != 8 || hms[2] != ':' || hms[5] != ':')
        return std::nullopt;
    auto h = number<int>(hms.substr(0, 2)), m = number<int>(hms.substr(3, 2)),
         s = number<int>(hms.substr(6, 2));
    if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = month;
    tm.tm_mday = *mday;
    tm.tm_hour = *h;
    tm.tm_min = *m;
    tm.tm_sec = *s;
    const std::time_t t = timegm(&tm);
    // timegm normalises Feb 31 into March: refuse dates that do not exist.
    std::tm back{};
    gmtime_r(&t, &back);
    if (back.tm_mday != *mday || back.tm_mon != month) return std::nullopt;
    return t;
}

std::expected<clamd_version, std::string> parse_clamd_version(std::string_view text) {
    while (!text.empty() && (text.back() == '\0' || text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    constexpr std::string_view prefix = "ClamAV ";
    if (!text.starts_with(prefix)) return std::unexpected("unexpected answer: " + shown(text, 100));
    if (!printable(text)) return std::unexpected("unexpected characters in the answer");
    text.remove_prefix(prefix.size());
    clamd_version v;
    auto slash = text.find('/');
    auto engine = text.substr(0, slash);
    if (engine.empty() || engine.size() > 64 || engine.find(' ') != std::string_view::npos)
        return std::unexpected("unexpected engine version: " + shown(engine, 100));
    v.engine = std::string(engine);
    if (slash == std::string_view::npos) return v;
    text.remove_prefix(slash + 1);
    auto slash2 = text.find('/');
    if (slash2 == std::string_view::npos)
        return std::unexpected("no database date after the version: " + shown(text, 100));
    auto db = number<std::uint64_t>(text.substr(0, slash2));
    if (!db)
        return std::unexpected("unexpected database version: " + shown(text.substr(0, slash2), 40));
    auto when = parse_ctime(text.substr(slash2 + 1));
    if (!when)
        return std::unexpected("unexpected database date: " + shown(text.substr(slash2 + 1), 40));
    v.db = *db;
    v.db_time = *when;
    return v;
}

std::string rspamd_server_version(std::string_view answer) {
    auto end = answer.find("\r\n\r\n");
    if (end == std::string_view::npos) end = answer.find("\n\n");
    auto head = answer.substr(0, end);
    while (!head.empty()) {
        auto nl = head.find('\n');
        auto line = head.substr(0, nl);
        head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        constexpr std::string_view name = "server:";
        if (line.size() < name.size()) continue;
        bool match = true;
        for (std::size_t i = 0; i < name.size(); ++i)
            match &=
                static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))) == name[i];
        if (!match) continue;
        auto value = line.substr(name.size());
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        constexpr std::string_view product = "rspamd/";
        if (!value.starts_with(product)) return "";
        value.remove_prefix(product.size());
        value = value.substr(0, value.find(' '));
        if (value.empty() || value.size() > 32 || !printable(value)) return "";
        return std::string(value);
    }
    return "";
}

namespace {

std::string meanwhile(const scanner_config& cfg, std::string_view section) {
    if (cfg.tempfail_on_failure)
        return "mail is refused with 451 4.7.1 meanwhile and senders retry later (" +
               std::string(section) + ".on_failure = tempfail)";
    if (section == "rspamd")
        return "mail is accepted unchecked meanwhile (X-Spam-Status: unchecked; "
               "rspamd.on_failure = accept)";
    return "mail is accepted unscanned meanwhile (X-Virus-Status: unchecked; "
           "clamav.on_failure = accept)";
}

} // namespace

finding rspamd_finding(const scanner_config& cfg, const rspamd_probe& p) {
    const std::string where = cfg.address + " (rspamd.address in " + cfg.file + ")";
    if (!p.problem.empty())
        return fail("scanners",
                    "rspamd does not answer on " + where + ": " + p.problem + "; " +
                        meanwhile(cfg, "rspamd"),
                    "start it (systemctl start rspamd; journalctl -u rspamd says why it "
                    "stopped) or set rspamd.address in " +
                        cfg.file + " to its normal worker");
    return ok("scanners",
              "rspamd" + (p.version.empty() ? "" : " " + p.version) + " answers on " + where);
}

findings clamd_findings(const scanner_config& cfg, const clamd_probe& p, std::time_t now) {
    const std::string where = cfg.address + " (clamav.address in " + cfg.file + ")";
    if (!p.problem.empty() || !p.version)
        return {fail("scanners",
                     "clamd does not answer on " + where + ": " +
                         (p.problem.empty() ? std::string("no version") : p.problem) + "; " +
                         meanwhile(cfg, "clamav"),
                     "start it (systemctl start clamav-daemon; journalctl -u clamav-daemon "
                     "says why it stopped) or set clamav.address in " +
                         cfg.file + " to its LocalSocket or TCPSocket")};
    const auto& v = *p.version;
    const std::string who = "clamd " + v.engine;
    const std::string freshclam =
        "freshclam is not updating: check `systemctl status clamav-freshclam` (journalctl -u "
        "clamav-freshclam says why); clamd reloads new signatures by itself";
    if (!v.db || !v.db_time)
        return {warn("scanners",
                     who + " answers on " + where +
                         " but reports no signature database "
                         "version: only local signatures are loaded, so almost no virus is "
                         "recognised",
                     "install the signatures: systemctl start clamav-freshclam (or run "
                     "freshclam once), then systemctl restart clamav-daemon")};
    const long long age = static_cast<long long>(now) - static_cast<long long>(*v.db_time);
    const std::string db = "signatures " + std::to_string(*v.db) + " of " + day_text(*v.db_time);
    if (age < -86400)
        return {warn("scanners",
                     who + " on " + where + ": " + db + " are dated in the future (" +
                         utc_text(*v.db_time) + ")",
                     "check the system clock (timedatectl)")};
    if (age > clamd_db_max_age)
        return {warn("scanners",
                     who + " on " + where + ": " + db + " are " + age_text(age) +
                         " old (more than " + std::to_string(clamd_db_max_age / 86400) +
                         " days): new viruses pass",
                     freshclam)};
    return {ok("scanners", who + " answers on " + where + ", " + db + " (" +
                               (age < 86400 ? std::string("less than a day") : age_text(age)) +
                               " old)")};
}

} // namespace splitmail::provision::check
