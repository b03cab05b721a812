// Sort values for SORT (RFC 5256, RFC 5957); see sort_keys.hpp.
#include "imap/sort_keys.hpp"

#include "imap/encoded_words.hpp"

#include <array>
#include <cctype>

namespace splitmail::home::imap::sort_keys {
namespace {

char up(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

bool istarts(std::string_view s, std::size_t at, std::size_t end, std::string_view word) {
    if (end - at < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
        if (up(s[at + i]) != up(word[i])) return false;
    return true;
}

// subj-blob = "[" *BLOBCHAR "]" *WSP (RFC 5256 5): the position after it, or npos.
std::size_t blob_end(std::string_view s, std::size_t p, std::size_t end) {
    if (p >= end || s[p] != '[') return std::string_view::npos;
    for (std::size_t q = p + 1; q < end; ++q) {
        if (s[q] == '[') return std::string_view::npos;
        if (s[q] == ']') {
            ++q;
            while (q < end && s[q] == ' ') ++q;
            return q;
        }
    }
    return std::string_view::npos;
}

// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":": the position after it, or npos.
std::size_t refwd_end(std::string_view s, std::size_t p, std::size_t end) {
    for (std::string_view w : {"re", "fwd", "fw"}) {
        if (!istarts(s, p, end, w)) continue;
        std::size_t q = p + w.size();
        while (q < end && s[q] == ' ') ++q;
        if (q < end && s[q] == '[') {
            auto b = blob_end(s, q, end);
            if (b == std::string_view::npos) continue;
            q = b;
        }
        if (q < end && s[q] == ':') return q + 1;
    }
    return std::string_view::npos;
}

int month_of(std::string_view m) {
    static const std::array<std::string_view, 12> names{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    if (m.size() < 3) return 0;
    for (std::size_t i = 0; i < names.size(); ++i)
        if (up(m[0]) == names[i][0] && up(m[1]) == names[i][1] && up(m[2]) == names[i][2])
            return static_cast<int>(i) + 1;
    return 0;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::int64_t to_int(std::string_view s) {
    std::int64_t v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
}

// Days from 1970-01-01 to the given civil date (proleptic Gregorian calendar).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2;
    std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    std::int64_t yoe = y - era * 400;
    std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

} // namespace

std::string casemap(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = up(c);
    return out;
}

std::string base_subject(std::string_view subject, bool* reply) {
    if (reply) *reply = false;
    // (1) Encoded words decoded; tabs and line ends as spaces; runs of spaces as one.
    std::string decoded = encoded_words::decode(subject);
    std::string s;
    s.reserve(decoded.size());
    for (char c : decoded) {
        if (c == '\t' || c == '\r' || c == '\n') c = ' ';
        if (c == ' ' && !s.empty() && s.back() == ' ') continue;
        s.push_back(c);
    }
    std::size_t b = 0, e = s.size();
    bool was_reply = false;
    // Where a run of blobs ends that has no subj-refwd after it: a step (3) starting inside
    // that run fails the same way, so it is not scanned again (keeps the loop linear).
    std::size_t no_leader_until = 0;
    while (true) {
        // (2) Trailers: "(fwd)" and white space.
        while (e > b) {
            if (s[e - 1] == ' ') {
                --e;
            } else if (e - b >= 5 && istarts(s, e - 5, e, "(fwd)")) {
                e -= 5;
                was_reply = true;
            } else {
                break;
            }
        }
        // (5) Repeat (3) and (4) until nothing changes.
        for (bool changed = true; changed && b < e;) {
            changed = false;
            // (3) Leaders: white space, or *subj-blob subj-refwd.
            while (b < e) {
                if (s[b] == ' ') {
                    ++b;
                    changed = true;
                    continue;
                }
                if (s[b] == '[' && b < no_leader_until) break;
                std::size_t p = b;
                while (p < e && s[p] == '[') {
                    auto q = blob_end(s, p, e);
                    if (q == std::string_view::npos) break;
                    p = q;
                }
                auto r = refwd_end(s, p, e);
                if (r == std::string_view::npos) {
                    no_leader_until = p;
                    break;
                }
                b = r;
                was_reply = true;
                changed = true;
            }
            // (4) A leading blob, when something is left after it.
            if (b < e && s[b] == '[') {
                auto q = blob_end(s, b, e);
                if (q != std::string_view::npos && q < e) {
                    b = q;
                    changed = true;
                }
            }
        }
        // (6) "[fwd: subject]": unwrap and start again from (2).
        if (e - b >= 6 && istarts(s, b, e, "[fwd:") && s[e - 1] == ']') {
            b += 5;
            --e;
            was_reply = true;
            no_leader_until = 0;
            continue;
        }
        break;
    }
    if (reply) *reply = was_reply;
    return casemap(std::string_view(s).substr(b, e - b));
}

std::optional<std::int64_t> sent_date(std::string_view date) {
    // Comments (CFWS) and commas out; then space-separated tokens.
    std::string t;
    t.reserve(date.size());
    int depth = 0;
    for (char c : date) {
        if (c == '(')
            ++depth;
        else if (c == ')' && depth > 0)
            --depth;
        else if (depth == 0)
            t.push_back(c == ',' || c == '\t' || c == '\r' || c == '\n' ? ' ' : c);
    }
    std::vector<std::string_view> tok;
    std::string_view v(t);
    for (std::size_t i = 0; i < v.size() && tok.size() < 8;) {
        while (i < v.size() && v[i] == ' ') ++i;
        std::size_t j = i;
        while (j < v.size() && v[j] != ' ') ++j;
        if (j > i) tok.push_back(v.substr(i, j - i));
        i = j;
    }
    std::size_t k = 0;
    if (k < tok.size() && !tok[k].empty() && std::isalpha(static_cast<unsigned char>(tok[k][0])))
        ++k; // day of week
    if (tok.size() < k + 4) return std::nullopt;
    std::string_view day = tok[k], mon = tok[k + 1], year = tok[k + 2], time = tok[k + 3];
    int m = month_of(mon);
    if (!all_digits(day) || day.size() > 2 || !m || !all_digits(year) || year.size() > 4)
        return std::nullopt;
    std::int64_t d = to_int(day), y = to_int(year);
    if (d < 1 || d > 31) return std::nullopt;
    if (year.size() == 2)
        y += y < 50 ? 2000 : 1900; // RFC 5322 4.3
    else if (year.size() == 3)
        y += 1900;
    // time: HH:MM[:SS]
    std::int64_t hms[3] = {0, 0, 0};
    std::size_t part = 0, start = 0;
    for (std::size_t i = 0; i <= time.size(); ++i) {
        if (i == time.size() || time[i] == ':') {
            auto f = time.substr(start, i - start);
            if (part > 2 || !all_digits(f) || f.size() > 2) return std::nullopt;
            hms[part++] = to_int(f);
            start = i + 1;
        }
    }
    if (part < 2 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60) return std::nullopt;
    std::int64_t offset = 0; // minutes east of UTC; a missing zone is taken as UTC
    if (tok.size() > k + 4) {
        std::string_view z = tok[k + 4];
        if ((z[0] == '+' || z[0] == '-') && z.size() == 5 && all_digits(z.substr(1))) {
            std::int64_t hh = to_int(z.substr(1, 2)), mm = to_int(z.substr(3, 2));
            if (mm > 59) return std::nullopt;
            offset = (z[0] == '-' ? -1 : 1) * (hh * 60 + mm);
        } else {
            static const std::pair<std::string_view, int> zones[] = {
                {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
                {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
            std::string zu = casemap(z);
            for (auto& [name, h] : zones)
                if (zu == name) offset = h * 60;
            // UT, GMT, Z and military zones: RFC 5322 4.3 says treat them as -0000.
        }
    }
    std::int64_t days = days_from_civil(y, m, static_cast<int>(d));
    return days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2] - offset * 60;
}

std::vector<std::string> message_ids(std::string_view field, std::size_t keep) {
    std::vector<std::string_view> found;
    for (std::size_t p = 0; p < field.size();) {
        auto open = field.find('<', p);
        if (open == std::string_view::npos) break;
        auto close = field.find_first_of("<>", open + 1);
        if (close == std::string_view::npos) break;
        if (field[close] == '<') { // "<a <b>": the second '<' starts the id
            p = close;
            continue;
        }
        if (close > open + 1) found.push_back(field.substr(open + 1, close - open - 1));
        p = close + 1;
    }
    std::vector<std::string> out;
    std::size_t from = found.size() > keep ? found.size() - keep : 0;
    for (std::size_t i = from; i < found.size(); ++i) {
        std::string id;
        for (char c : found[i])
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\0') id.push_back(c);
        if (!id.empty()) out.push_back(std::move(id));
    }
    return out;
}

std::string first_mailbox(const std::vector<address::entry>& list) {
    for (const auto& e : list)
        if (e.k == address::entry::kind::mailbox) return casemap(e.mailbox);
    return {};
}

std::string first_display(const std::vector<address::entry>& list) {
    for (const auto& e : list) {
        if (e.k != address::entry::kind::mailbox) continue;
        std::string name = encoded_words::decode(e.name);
        std::size_t b = name.find_first_not_of(' ');
        if (b != std::string::npos) {
            std::size_t last = name.find_last_not_of(' ');
            return casemap(std::string_view(name).substr(b, last - b + 1));
        }
        return casemap(e.host.empty() ? e.mailbox : e.mailbox + "@" + e.host);
    }
    return {};
}

} // namespace splitmail::home::imap::sort_keys
